//! Parsing and matching `SELECTOR=PRECISION` overrides.

use std::fmt;
use std::str::FromStr;

use qbench_onnx::Node;

use crate::error::QuantError;

/// Which nodes an override applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selector {
    /// Exactly this node name.
    Name(String),
    /// A name pattern where `*` matches any run of characters.
    Pattern(String),
    /// Every node of this operator type.
    OpType(String),
}

/// What a selected node becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    Float,
    Int16,
    Int8,
    Int4,
    PerChannel,
    PerTensor,
}

/// One `SELECTOR=PRECISION`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Override {
    pub selector: Selector,
    pub precision: Precision,
}

fn glob(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for p in &parts[1..parts.len() - 1] {
        match rest.find(p) {
            Some(i) => rest = &rest[i + p.len()..],
            None => return false,
        }
    }
    true
}

impl Selector {
    /// Whether `node` is selected.
    pub fn matches(&self, node: &Node) -> bool {
        match self {
            Selector::Name(n) => node.name == *n,
            Selector::Pattern(p) => glob(p, &node.name),
            Selector::OpType(t) => node.op_type == *t,
        }
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Selector::Name(n) | Selector::Pattern(n) => write!(f, "{n}"),
            Selector::OpType(t) => write!(f, "op:{t}"),
        }
    }
}

impl Precision {
    /// The spelling used on the command line and in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            Precision::Float => "float",
            Precision::Int16 => "int16",
            Precision::Int8 => "int8",
            Precision::Int4 => "int4",
            Precision::PerChannel => "per-channel",
            Precision::PerTensor => "per-tensor",
        }
    }

    const ALL: [Precision; 6] = [
        Precision::Float,
        Precision::Int16,
        Precision::Int8,
        Precision::Int4,
        Precision::PerChannel,
        Precision::PerTensor,
    ];
}

impl FromStr for Precision {
    type Err = QuantError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Precision::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                QuantError::InvalidArgument(format!(
                    "unknown precision '{s}' (expected one of: {})",
                    Precision::ALL.map(|p| p.name()).join(", ")
                ))
            })
    }
}

impl fmt::Display for Override {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.selector, self.precision.name())
    }
}

impl FromStr for Override {
    type Err = QuantError;

    /// `SELECTOR=PRECISION`, e.g. `stem=float`, `block0.*=int16`, `op:Gemm=per-tensor`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| {
            QuantError::InvalidArgument(format!(
                "override '{s}': {why} (expected SELECTOR=PRECISION, e.g. stem=float, \
                 block0.*=int16, op:Gemm=per-tensor)"
            ))
        };
        let (sel, prec) = s.rsplit_once('=').ok_or_else(|| bad("no '='"))?;
        let sel = sel.trim();
        if sel.is_empty() {
            return Err(bad("empty selector"));
        }
        let selector = match sel.strip_prefix("op:") {
            Some("") => return Err(bad("empty operator type")),
            Some(t) => Selector::OpType(t.to_string()),
            None if sel.contains('*') => Selector::Pattern(sel.to_string()),
            None => Selector::Name(sel.to_string()),
        };
        let precision = prec
            .trim()
            .parse()
            .map_err(|e: QuantError| bad(&e.to_string()))?;
        Ok(Override {
            selector,
            precision,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_parse_and_print_back() {
        for s in [
            "stem=float",
            "block0.*=int16",
            "op:Gemm=per-tensor",
            "a=b=int4",
        ] {
            let o: Override = s.parse().unwrap();
            assert_eq!(o.to_string(), s);
        }
        let o: Override = "block*.conv?=int8".parse().unwrap();
        assert!(matches!(o.selector, Selector::Pattern(_)));
    }

    #[test]
    fn bad_overrides_say_what_is_wrong() {
        for (s, want) in [
            ("stem", "no '='"),
            ("=float", "empty selector"),
            ("op:=float", "empty operator type"),
            ("stem=int3", "unknown precision 'int3'"),
        ] {
            let e = s.parse::<Override>().unwrap_err().to_string();
            assert!(e.contains(want) && e.contains(s), "{s}: {e}");
        }
    }

    #[test]
    fn patterns_match_names() {
        let n = |name: &str| Node::new(name, "Conv", &[], &[]);
        let sel = |s: &str| s.parse::<Override>().unwrap().selector;
        assert!(sel("block0.*=float").matches(&n("block0.conv1")));
        assert!(!sel("block0.*=float").matches(&n("block1.conv1")));
        assert!(sel("*.conv2=float").matches(&n("block2.conv2")));
        assert!(sel("b*k*2=float").matches(&n("block2")));
        assert!(!sel("b*k*3=float").matches(&n("block2")));
        assert!(sel("op:Conv=float").matches(&n("x")));
        assert!(!sel("stem=float").matches(&n("stem2")));
    }
}
