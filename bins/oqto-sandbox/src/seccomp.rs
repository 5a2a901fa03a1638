//! The seccomp filter: system calls a coding agent never needs fail with `EPERM`.
//!
//! Built with `seccompiler` (rust-vmm) and handed to bwrap as a compiled classic-BPF program
//! (`--seccomp FD`). The program also kills any process that makes a system call through
//! another architecture's ABI (e.g. 32-bit `int 0x80` on x86-64), which would otherwise
//! bypass the rules.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

/// The errno a blocked call returns.
pub const BLOCKED_ERRNO: i32 = libc_eperm();

const fn libc_eperm() -> i32 {
    nix::errno::Errno::EPERM as i32
}

/// A blocked call: its name (for `explain` and the docs) and number.
#[derive(Clone, Copy, Debug)]
pub struct Blocked {
    pub name: &'static str,
    pub nr: i64,
    pub why: &'static str,
}

macro_rules! blocked {
    ($($name:ident: $why:literal),* $(,)?) => {
        &[$(Blocked { name: stringify!($name), nr: nix::libc::$name as i64, why: $why }),*]
    };
}

/// Calls blocked outright.
pub const BLOCKED: &[Blocked] = blocked![
    SYS_ptrace: "inspecting or controlling other processes",
    SYS_process_vm_readv: "reading another process's memory",
    SYS_process_vm_writev: "writing another process's memory",
    SYS_mount: "mounting",
    SYS_umount2: "unmounting (revealing what the sandbox hides)",
    SYS_pivot_root: "changing the root",
    SYS_chroot: "changing the root",
    SYS_open_tree: "new mount API",
    SYS_move_mount: "new mount API",
    SYS_fsopen: "new mount API",
    SYS_fsconfig: "new mount API",
    SYS_fsmount: "new mount API",
    SYS_fspick: "new mount API",
    SYS_mount_setattr: "new mount API",
    SYS_init_module: "loading kernel modules",
    SYS_finit_module: "loading kernel modules",
    SYS_delete_module: "unloading kernel modules",
    SYS_kexec_load: "replacing the kernel",
    SYS_kexec_file_load: "replacing the kernel",
    SYS_add_key: "the kernel keyring (shared secrets)",
    SYS_request_key: "the kernel keyring (shared secrets)",
    SYS_keyctl: "the kernel keyring (shared secrets)",
    SYS_bpf: "loading eBPF programs",
    SYS_perf_event_open: "performance counters (side channels)",
    SYS_userfaultfd: "a common kernel-exploit primitive",
    SYS_open_by_handle_at: "opening files by handle, past the mount namespace",
    SYS_name_to_handle_at: "file handles",
    SYS_acct: "process accounting",
    SYS_swapon: "swap",
    SYS_swapoff: "swap",
    SYS_reboot: "rebooting",
    SYS_syslog: "the kernel log",
    SYS_settimeofday: "setting the clock",
    SYS_clock_settime: "setting the clock",
    SYS_clock_adjtime: "setting the clock",
    SYS_adjtimex: "setting the clock",
    SYS_quotactl: "disk quotas",
    SYS_vhangup: "hanging up the terminal",
];

/// `ioctl` requests blocked on any file descriptor.
pub const BLOCKED_IOCTLS: &[(&str, u64, &str)] = &[
    (
        "TIOCSTI",
        nix::libc::TIOCSTI,
        "pushing input into a terminal (typing commands into the user's shell)",
    ),
    (
        "TIOCLINUX",
        nix::libc::TIOCLINUX,
        "console control, including pasting into a virtual console",
    ),
];

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
