//! The seccomp filter: system calls a coding agent never needs fail with `EPERM`.
//!
//! Built with `seccompiler` (rust-vmm) and handed to bwrap as a compiled classic-BPF program
//! (`--seccomp FD`). The program also kills any process that makes a system call through
//! another architecture's ABI (e.g. 32-bit `int 0x80` on x86-64), which would otherwise
//! bypass the rules.

use std::collections::BTreeMap;

pub use oqto_sandbox_core::syscalls::{BLOCKED, BLOCKED_ERRNO, BLOCKED_IOCTLS, Blocked};

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

fn target_arch() -> TargetArch {
    #[cfg(target_arch = "x86_64")]
    {
        TargetArch::x86_64
    }
    #[cfg(target_arch = "aarch64")]
    {
        TargetArch::aarch64
    }
    #[cfg(target_arch = "riscv64")]
    {
        TargetArch::riscv64
    }
}

/// The compiled filter, as the bytes bwrap reads (`struct sock_filter` in native order).
pub fn program() -> Result<Vec<u8>, seccompiler::Error> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for b in BLOCKED {
        rules.insert(b.nr, Vec::new());
    }
    let mut ioctl = Vec::new();
    for (_, request, _) in BLOCKED_IOCTLS {
        // The kernel reads the request as a 32-bit int: compare the low 32 bits only, so
        // that garbage in the upper half cannot slip past.
        let cond = SeccompCondition::new(1, SeccompCmpArgLen::Dword, SeccompCmpOp::Eq, *request)?;
        ioctl.push(SeccompRule::new(vec![cond])?);
    }
    rules.insert(nix::libc::SYS_ioctl, ioctl);
    let errno = u32::try_from(BLOCKED_ERRNO).expect("EPERM is positive");
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(errno),
        target_arch(),
    )?;
    let bpf: BpfProgram = filter.try_into()?;
    let mut bytes = Vec::with_capacity(bpf.len() * 8);
    for insn in &bpf {
        bytes.extend_from_slice(&insn.code.to_ne_bytes());
        bytes.push(insn.jt);
        bytes.push(insn.jf);
        bytes.extend_from_slice(&insn.k.to_ne_bytes());
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_compiles_to_whole_instructions() {
        let bytes = program().unwrap();
        assert!(!bytes.is_empty());
        assert_eq!(bytes.len() % 8, 0);
        // classic BPF programs are limited to 4096 instructions
        assert!(bytes.len() / 8 < 4096);
    }

    #[test]
    fn blocked_names_are_unique() {
        let mut names: Vec<&str> = BLOCKED.iter().map(|b| b.name).collect();
        names.sort_unstable();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n);
    }
}
