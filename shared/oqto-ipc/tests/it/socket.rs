//! Unix socket helpers.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;

use oqto_ipc::socket::{
    BindError, bind, bind_tokio, current_uid, is_live, peer_cred, prepare_dir, remove,
};

fn mode(path: &std::path::Path) -> u32 {
    fs::symlink_metadata(path).unwrap().mode() & 0o777
}

fn our_pid() -> i32 {
    i32::try_from(std::process::id()).unwrap()
}

#[test]
fn bind_makes_a_private_dir_and_socket() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a/b/run");
    let path = dir.join("runner.sock");
    let _listener = bind(&path).unwrap();
    assert_eq!(mode(&dir), 0o700);
    assert!(fs::symlink_metadata(&path).unwrap().file_type().is_socket());
    assert_eq!(mode(&path), 0o600);
    assert!(is_live(&path));
}

#[test]
fn prepare_dir_tightens_an_open_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    prepare_dir(&dir).unwrap();
    assert_eq!(mode(&dir), 0o700);
}

#[test]
fn prepare_dir_refuses_a_file() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("file");
    fs::write(&file, "data").unwrap();
    assert!(prepare_dir(&file).is_err());
    assert_eq!(fs::read_to_string(&file).unwrap(), "data");
}

#[test]
fn prepare_dir_refuses_a_dir_owned_by_someone_else() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("theirs");
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    if current_uid() == 0 {
        // As root, give the directory to `nobody`.
        nix::unistd::chown(&dir, Some(nix::unistd::Uid::from_raw(65534)), None).unwrap();
        let err = prepare_dir(&dir).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::PermissionDenied);
        assert!(err.to_string().contains("owned by uid 65534"), "{err}");
        assert_eq!(mode(&dir), 0o755, "left unchanged");
    } else {
        // Not root: `/` belongs to root, and is neither created nor changed.
        let err = prepare_dir(std::path::Path::new("/")).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::PermissionDenied);
        assert!(err.to_string().contains("owned by uid 0"), "{err}");
    }
}

#[test]
fn a_live_listener_is_not_taken_over() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("run/x.sock");
    let _first = bind(&path).unwrap();
    let err = bind(&path).unwrap_err();
    assert!(
        matches!(&err, BindError::InUse { path: p } if *p == path),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("another server is already listening on {}", path.display())
    );
    assert!(is_live(&path), "the first server still listens");
}

#[test]
fn a_stale_socket_is_replaced() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("run/x.sock");
    drop(bind(&path).unwrap());
    assert!(path.exists(), "dropping a listener leaves the file");
    assert!(!is_live(&path));
    let listener = bind(&path).unwrap();
    assert!(is_live(&path));
    let client = UnixStream::connect(&path).unwrap();
    let (server, _) = listener.accept().unwrap();
    assert_eq!(peer_cred(&server).unwrap().pid, Some(our_pid()));
    drop(client);
}

#[test]
fn a_regular_file_is_not_deleted() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("x.sock");
    fs::write(&path, "user data").unwrap();
    let err = bind(&path).unwrap_err();
    assert!(matches!(err, BindError::NotASocket { .. }), "{err:?}");
    assert!(err.to_string().contains("not a socket"), "{err}");
    assert_eq!(fs::read_to_string(&path).unwrap(), "user data");
    assert!(remove(&path).is_err());
    assert_eq!(fs::read_to_string(&path).unwrap(), "user data");
}

#[test]
fn a_symlink_is_not_followed_or_deleted() {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("target");
    fs::write(&target, "user data").unwrap();
    let path = tmp.path().join("x.sock");
    std::os::unix::fs::symlink(&target, &path).unwrap();
    assert!(matches!(bind(&path), Err(BindError::NotASocket { .. })));
    assert!(
        fs::symlink_metadata(&path)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(fs::read_to_string(&target).unwrap(), "user data");
}

#[test]
fn remove_deletes_the_socket() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("x.sock");
    let listener = bind(&path).unwrap();
    remove(&path).unwrap();
    assert!(!path.exists());
    remove(&path).unwrap();
    drop(listener);
}

#[test]
fn is_live_is_false_for_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    assert!(!is_live(&tmp.path().join("none.sock")));
}

#[test]
fn peer_cred_of_a_pair_is_us() {
    let (a, b) = UnixStream::pair().unwrap();
    for end in [&a, &b] {
        let cred = peer_cred(end).unwrap();
        assert_eq!(cred.uid, current_uid());
        assert_eq!(cred.gid, nix::unistd::getgid().as_raw());
        assert_eq!(cred.pid, Some(our_pid()));
    }
}

#[tokio::test]
async fn bind_tokio_accepts_and_reads_peer_cred() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("run/t.sock");
    let listener = bind_tokio(&path).unwrap();
    assert_eq!(mode(&path), 0o600);
    let client = tokio::net::UnixStream::connect(&path).await.unwrap();
    let (server, _) = listener.accept().await.unwrap();
    let cred = peer_cred(&server).unwrap();
    assert_eq!(cred.uid, current_uid());
    assert_eq!(cred.pid, Some(our_pid()));
    assert_eq!(peer_cred(&client).unwrap().pid, Some(our_pid()));
}
