//! The system calls and ioctls the seccomp filter blocks: a coding agent never needs them,
//! and they fail with `EPERM`. `oqto-sandbox` compiles the filter from these tables;
//! `explain` lists them.

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
