//! Is a shared library whole? A truncated copy of ONNX Runtime's library (an interrupted
//! download, a full disk) can still be mapped by the dynamic loader, and the process dies with
//! SIGBUS when it first touches a page past the end of the file: no message, no results. Before
//! loading, the ELF headers are read and every loadable segment and the section-header table must
//! lie inside the file (ELF-64 layout: System V gABI, "ELF Header" and "Program Header").

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

const PT_LOAD: u32 = 1;

fn u16_at(b: &[u8], at: usize, le: bool) -> u64 {
    let v = [b[at], b[at + 1]];
    u64::from(if le {
        u16::from_le_bytes(v)
    } else {
        u16::from_be_bytes(v)
    })
}

fn u32_at(b: &[u8], at: usize, le: bool) -> u32 {
    let v = [b[at], b[at + 1], b[at + 2], b[at + 3]];
    if le {
        u32::from_le_bytes(v)
    } else {
        u32::from_be_bytes(v)
    }
}

fn u64_at(b: &[u8], at: usize, le: bool) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[at..at + 8]);
    if le {
        u64::from_le_bytes(v)
    } else {
        u64::from_be_bytes(v)
    }
}

/// `Err(reason)` when `path` is an ELF-64 file whose headers describe more bytes than it has.
/// Files that are not ELF-64 (another platform's format) are left to the loader.
pub fn check_complete(path: &Path) -> Result<(), String> {
    let mut f = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let len = f
        .metadata()
        .map_err(|e| format!("cannot stat {}: {e}", path.display()))?
        .len();
    let mut h = [0u8; 64];
    if f.read_exact(&mut h).is_err() {
        return Err(format!(
            "{} is {len} bytes, shorter than an ELF header: not a shared library (truncated?)",
            path.display()
        ));
    }
    if &h[..4] != b"\x7fELF" || h[4] != 2 {
        return Ok(());
    }
    let le = h[5] == 1;
    let (phoff, shoff) = (u64_at(&h, 0x20, le), u64_at(&h, 0x28, le));
    let (phentsize, phnum) = (u16_at(&h, 0x36, le), u16_at(&h, 0x38, le));
    let (shentsize, shnum) = (u16_at(&h, 0x3A, le), u16_at(&h, 0x3C, le));
    let truncated = |needed: u64, what: &str| {
        format!(
            "{} is truncated: it has {len} bytes but its {what} reaches byte {needed}",
            path.display()
        )
    };
    let ph_end = phoff.saturating_add(phentsize.saturating_mul(phnum));
    if ph_end > len {
        return Err(truncated(ph_end, "program header table"));
    }
    if shnum > 0 {
        let sh_end = shoff.saturating_add(shentsize.saturating_mul(shnum));
        if sh_end > len {
            return Err(truncated(sh_end, "section header table"));
        }
    }
    if phentsize < 56 {
        return Ok(());
    }
    let mut ph = vec![0u8; (phentsize * phnum) as usize];
    f.seek(SeekFrom::Start(phoff))
        .and_then(|_| f.read_exact(&mut ph))
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    for p in ph.chunks_exact(phentsize as usize) {
        if u32_at(p, 0, le) != PT_LOAD {
            continue;
        }
        let end = u64_at(p, 8, le).saturating_add(u64_at(p, 32, le));
        if end > len {
            return Err(truncated(end, "loadable segment"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal little-endian ELF-64 file: header, one PT_LOAD segment of `segment` bytes from
    /// offset 0, and the section-header table (one 64-byte entry) at `shoff`.
    fn elf(segment: u64, shoff: u64) -> Vec<u8> {
        let mut b = vec![0u8; 64 + 56];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 2;
        b[5] = 1;
        b[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        b[0x28..0x30].copy_from_slice(&shoff.to_le_bytes());
        b[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        b[0x38..0x3A].copy_from_slice(&1u16.to_le_bytes());
        b[0x3A..0x3C].copy_from_slice(&64u16.to_le_bytes());
        b[0x3C..0x3E].copy_from_slice(&1u16.to_le_bytes());
        b[64..68].copy_from_slice(&PT_LOAD.to_le_bytes());
        b[64 + 32..64 + 40].copy_from_slice(&segment.to_le_bytes());
        b
    }

    #[test]
    fn whole_and_truncated_libraries() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("lib.so");
        let mut whole = elf(300, 300);
        whole.resize(364, 0);
        std::fs::write(&p, &whole).unwrap();
        assert_eq!(check_complete(&p), Ok(()));
        // Cut inside the section-header table, then inside the loadable segment.
        std::fs::write(&p, &whole[..330]).unwrap();
        let e = check_complete(&p).unwrap_err();
        assert!(
            e.contains("truncated") && e.contains("330 bytes") && e.contains("section"),
            "{e}"
        );
        let mut short = elf(300, 0);
        short[0x3C] = 0;
        short.resize(250, 0);
        std::fs::write(&p, &short).unwrap();
        let e = check_complete(&p).unwrap_err();
        assert!(
            e.contains("loadable segment") && e.contains("byte 300"),
            "{e}"
        );
        // Shorter than a header; and not ELF at all (left to the loader).
        std::fs::write(&p, b"\x7fEL").unwrap();
        assert!(check_complete(&p)
            .unwrap_err()
            .contains("shorter than an ELF header"));
        std::fs::write(&p, [b'x'; 100]).unwrap();
        assert_eq!(check_complete(&p), Ok(()));
    }
}
