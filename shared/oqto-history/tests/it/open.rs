//! Opening: files and permissions, migrations, refusing what is not ours, integrity.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;

use oqto_history::{APPLICATION_ID, SCHEMA_VERSION, Store, StoreError};
use oqto_protocol::{ErrorCode, Role, SearchFilters, SessionId};

use crate::support::{expect_code, raw, session, temp_store, text_message};

fn mode(path: &std::path::Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn open_creates_private_directories_and_file() {
    let root = tempfile::tempdir().unwrap();
    fs::set_permissions(root.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let path = root.path().join("a/b/history.db");
    let mut store = Store::open(&path).unwrap();
    assert_eq!(mode(&root.path().join("a")), 0o700);
    assert_eq!(mode(&root.path().join("a/b")), 0o700);
    assert_eq!(
        mode(root.path()),
        0o755,
        "an existing directory is left alone"
    );
    assert_eq!(mode(&path), 0o600);
    store.insert_session(&session("ses_a", "pi", "/w")).unwrap();
    let wal = root.path().join("a/b/history.db-wal");
    assert!(wal.exists(), "the database is in WAL mode");
    assert_eq!(mode(&wal), 0o600);
}

#[test]
fn the_connection_is_configured() {
    let (dir, store) = temp_store();
    let conn = raw(&dir);
    let pragma = |name: &str| -> String {
        conn.query_row(&format!("PRAGMA {name}"), [], |r| {
            r.get::<_, rusqlite::types::Value>(0)
        })
        .map(|v| format!("{v:?}"))
        .unwrap()
    };
    assert_eq!(pragma("journal_mode"), "Text(\"wal\")");
    assert_eq!(pragma("user_version"), format!("Integer({SCHEMA_VERSION})"));
    assert_eq!(
        pragma("application_id"),
        format!("Integer({APPLICATION_ID})")
    );
    drop(store);
}

#[test]
fn reopening_keeps_the_data_and_the_schema() {
    let (dir, mut store) = temp_store();
    store.insert_session(&session("ses_a", "pi", "/w")).unwrap();
    store
        .put_message(
            &text_message("ses_a", "msg_1", Role::User, 1, "kept"),
            Some(3),
        )
        .unwrap();
    drop(store);
    for _ in 0..2 {
        let store = Store::open(&dir.path().join("history.db")).unwrap();
        let page = store.messages(&SessionId::new("ses_a"), None, 10).unwrap();
        assert_eq!(page.messages.len(), 1);
        let hits = store
            .search("kept", &SearchFilters::default(), None)
            .unwrap();
        assert_eq!(hits.len(), 1);
        store.integrity_check().unwrap();
    }
}

#[test]
fn a_database_from_a_newer_build_is_refused_untouched() {
    let (dir, store) = temp_store();
    drop(store);
    raw(&dir)
        .execute_batch(&format!("PRAGMA user_version = {};", SCHEMA_VERSION + 1))
        .unwrap();
    let err = Store::open(&dir.path().join("history.db")).unwrap_err();
    assert!(matches!(err, StoreError::SchemaTooNew { found, .. } if found == SCHEMA_VERSION + 1));
    assert_eq!(err.code(), ErrorCode::Storage);
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("schema version {}", SCHEMA_VERSION + 1)),
        "{msg}"
    );
    assert!(msg.contains("upgrade oqto"), "{msg}");
    let version: i64 = raw(&dir)
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION + 1);
}

#[test]
fn another_programs_database_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.db");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE notes (body TEXT);")
        .unwrap();
    let msg = expect_code(Store::open(&path), ErrorCode::Storage);
    assert!(msg.contains("is not an Oqto history database"), "{msg}");
    let tables: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
        .unwrap();
    assert_eq!(tables, 1);
}

#[test]
fn a_file_that_is_not_a_database_is_a_storage_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.db");
    fs::write(&path, vec![b'x'; 8192]).unwrap();
    let msg = expect_code(Store::open(&path), ErrorCode::Storage);
    assert!(msg.starts_with("cannot open history database"), "{msg}");
    assert!(msg.contains("not a database"), "{msg}");
}

#[test]
fn a_read_only_file_is_a_storage_error() {
    let (dir, store) = temp_store();
    drop(store);
    let path = dir.path().join("history.db");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o444)).unwrap();
    let msg = expect_code(Store::open(&path), ErrorCode::Storage);
    assert!(msg.contains("is read-only"), "{msg}");
}

#[test]
fn a_read_only_directory_is_a_storage_error() {
    let dir = tempfile::tempdir().unwrap();
    let ro = dir.path().join("ro");
    fs::create_dir(&ro).unwrap();
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o555)).unwrap();
    let msg = expect_code(Store::open(&ro.join("history.db")), ErrorCode::Storage);
    assert!(msg.contains("is read-only"), "{msg}");
    assert!(!ro.join("history.db").exists());
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn a_directory_that_cannot_be_created_is_a_storage_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain-file");
    fs::write(&file, b"").unwrap();
    let msg = expect_code(
        Store::open(&file.join("sub/history.db")),
        ErrorCode::Storage,
    );
    assert!(msg.starts_with("cannot create directory"), "{msg}");
}

#[test]
fn integrity_check_passes_after_writes_and_catches_a_stale_index() {
    let (dir, mut store) = temp_store();
    store.insert_session(&session("ses_a", "pi", "/w")).unwrap();
    store
        .put_messages(&[
            (text_message("ses_a", "msg_1", Role::User, 1, "alpha"), None),
            (text_message("ses_a", "msg_2", Role::User, 2, "beta"), None),
        ])
        .unwrap();
    store
        .put_message(
            &text_message("ses_a", "msg_1", Role::User, 1, "gamma"),
            None,
        )
        .unwrap();
    store.integrity_check().unwrap();

    // Drop a message's index entry behind the store's back.
    raw(&dir)
        .execute(
            "DELETE FROM message_fts WHERE rowid = (SELECT pk FROM messages WHERE id = 'msg_2')",
            [],
        )
        .unwrap();
    let msg = expect_code(store.integrity_check(), ErrorCode::Storage);
    assert!(
        msg.contains("the search index does not match the messages"),
        "{msg}"
    );
}

/// Writes a session with two messages, closes the store, and returns the database path.
fn database_with_two_messages(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("history.db");
    let mut store = Store::open(&path).unwrap();
    store.insert_session(&session("ses_a", "pi", "/w")).unwrap();
    store
        .put_messages(&[
            (
                text_message("ses_a", "msg_1", Role::User, 1, "parse the config"),
                Some(1),
            ),
            (
                text_message("ses_a", "msg_2", Role::Assistant, 2, "parsed it"),
                Some(2),
            ),
        ])
        .unwrap();
    drop(store);
    path
}

/// Reads work on a read-only store; each kind of write fails with the typed `ReadOnly`
/// error and changes nothing.
fn assert_reads_work_and_writes_fail(store: &mut Store) {
    assert!(store.is_read_only());
    assert_eq!(store.sessions().unwrap().len(), 1);
    let page = store.messages(&SessionId::new("ses_a"), None, 10).unwrap();
    assert_eq!(page.messages.len(), 2);
    let hits = store
        .search("pars*", &SearchFilters::default(), None)
        .unwrap();
    assert_eq!(hits.len(), 2);
    assert!(hits.iter().any(|h| h.snippet == "[parse] the config"));

    let errors = [
        store
            .put_message(&text_message("ses_a", "msg_3", Role::User, 3, "new"), None)
            .unwrap_err(),
        store
            .insert_session(&session("ses_b", "pi", "/w"))
            .unwrap_err(),
        store.delete_session(&SessionId::new("ses_a")).unwrap_err(),
    ];
    for err in errors {
        assert!(matches!(err, StoreError::ReadOnly { .. }), "{err:?}");
        assert_eq!(err.code(), ErrorCode::Storage);
        assert!(err.to_string().contains("opened read-only"), "{err}");
    }
    assert_eq!(
        store
            .messages(&SessionId::new("ses_a"), None, 10)
            .unwrap()
            .messages
            .len(),
        2
    );
}

#[test]
fn a_read_only_file_opens_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = database_with_two_messages(dir.path());
    fs::set_permissions(&path, fs::Permissions::from_mode(0o444)).unwrap();
    let before = fs::read(&path).unwrap();
    let mut store = Store::open_read_only(&path).unwrap();
    assert_reads_work_and_writes_fail(&mut store);
    drop(store);
    assert_eq!(fs::read(&path).unwrap(), before, "the file is unchanged");
}

#[test]
fn a_database_in_a_read_only_directory_opens_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let ro = dir.path().join("ro");
    fs::create_dir(&ro).unwrap();
    let path = database_with_two_messages(&ro);
    assert!(
        !ro.join("history.db-wal").exists(),
        "closing removed the WAL"
    );
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o555)).unwrap();
    // Root ignores the directory's mode: then SQLite may create its `-shm` file, which
    // is fine; the point is that reads work and writes fail in both cases.
    let mut store = Store::open_read_only(&path).unwrap();
    assert_reads_work_and_writes_fail(&mut store);
    drop(store);
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn open_read_only_creates_nothing_and_refuses_what_is_not_ours() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.db");
    let msg = expect_code(Store::open_read_only(&missing), ErrorCode::Storage);
    assert!(msg.starts_with("cannot open"), "{msg}");
    assert!(!missing.exists());

    let other = dir.path().join("other.db");
    rusqlite::Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE notes (body TEXT);")
        .unwrap();
    let msg = expect_code(Store::open_read_only(&other), ErrorCode::Storage);
    assert!(msg.contains("is not an Oqto history database"), "{msg}");

    let path = database_with_two_messages(dir.path());
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(&format!("PRAGMA user_version = {};", SCHEMA_VERSION + 1))
        .unwrap();
    let err = Store::open_read_only(&path).unwrap_err();
    assert!(matches!(err, StoreError::SchemaTooNew { .. }), "{err:?}");
}
