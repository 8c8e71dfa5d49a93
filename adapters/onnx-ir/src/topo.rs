//! Topological ordering of the nodes (Kahn's algorithm, stable in the original order).

use std::collections::{HashMap, VecDeque};

use crate::{Graph, IrError};

impl Graph {
    /// Reorders the nodes so that every node comes after the producers of its inputs.
    pub fn topo_sort(&mut self) -> Result<(), IrError> {
        let producers: HashMap<String, usize> = self
            .nodes
            .iter()
            .enumerate()
            .flat_map(|(i, n)| n.outputs.iter().map(move |o| (o.clone(), i)))
            .collect();
        let n = self.nodes.len();
        let mut indegree = vec![0usize; n];
        let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (i, node) in self.nodes.iter().enumerate() {
            for x in &node.inputs {
                if let Some(&p) = producers.get(x) {
                    if p != i {
                        indegree[i] += 1;
                        dependents[p].push(i);
                    }
                }
            }
        }
        let mut ready: VecDeque<usize> = (0..n).filter(|&i| indegree[i] == 0).collect();
        let mut order = Vec::with_capacity(n);
        while let Some(i) = ready.pop_front() {
            order.push(i);
            for &d in &dependents[i] {
                indegree[d] -= 1;
                if indegree[d] == 0 {
                    ready.push_back(d);
                }
            }
        }
        if order.len() != n {
            let stuck = (0..n).find(|i| indegree[*i] > 0).expect("a node is stuck");
            return Err(IrError::Cycle(self.nodes[stuck].name.clone()));
        }
        let mut old: Vec<Option<crate::Node>> = self.nodes.drain(..).map(Some).collect();
        self.nodes = order
            .into_iter()
            .map(|i| old[i].take().expect("once"))
            .collect();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::{Graph, Node};

    #[test]
    fn sorts_and_detects_cycles() {
        let mut g = Graph::default();
        g.add_node(Node::new("b", "Relu", &["t"], &["y"]));
        g.add_node(Node::new("a", "Relu", &["x"], &["t"]));
        g.topo_sort().unwrap();
        assert_eq!(g.nodes[0].name, "a");
        g.add_node(Node::new("c", "Relu", &["y"], &["x"]));
        assert!(g.topo_sort().is_err());
    }
}
