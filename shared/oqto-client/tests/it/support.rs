//! A private environment whose `runner.toml` makes the fake agent the default harness, and
//! a [`Runner`] (the client's) pointed at it with autostart.

use std::path::PathBuf;
use std::time::Duration;

use oqto_client::{Client, Incoming, Runner};
use oqto_config::Environment;
use oqto_protocol::{Event, EventKind, Seq, SessionId, State};
use oqto_testkit::TestEnv;

/// How long any single wait may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(30);

/// A program built by `cargo test --workspace`, in the target directory above this test.
pub fn built(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace` (cargo test --workspace builds it)",
        path.display()
    );
    path
}

pub struct Fixture {
    pub env: TestEnv,
    pub runner: Runner,
}

impl Fixture {
    pub fn new() -> Self {
        let env = TestEnv::new();
        env.write(
            "config/oqto/runner.toml",
            format!(
                "[runner]\ndefault_harness = \"fake\"\n[harness.fake]\ncommand = \"{}\"\n",
                built("oqto-fake-agent").display()
            ),
        );
        let runner = Runner::with_env(Self::environment(&env), None, true, "client-test/1")
            .expect("runner configuration");
        Self { env, runner }
    }

    fn environment(env: &TestEnv) -> Environment {
        let mut environment = Environment::empty(nix::unistd::getuid().as_raw())
            .with_var("OQTO_RUNNER_BIN", built("oqto-runner"))
            .with_cwd(env.work());
        for (name, value) in env.vars() {
            environment = environment.with_var(name, value);
        }
        environment
    }

    pub fn work(&self) -> String {
        self.env.work().display().to_string()
    }

    /// Stops the runner (if one answers) and waits until its socket is gone.
    pub async fn stop_runner(&self) {
        if let Ok(Some(mut client)) = self.runner.connect_existing().await {
            let _ = client
                .request(oqto_protocol::Command::RunnerShutdown {})
                .await;
        }
        let socket = self.runner.socket().to_path_buf();
        let gone = tokio::time::timeout(WAIT, async {
            while socket.exists() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        assert!(gone.is_ok(), "the runner did not stop");
    }
}

impl Drop for Fixture {
    /// Stops the runner, from a thread of its own: a test's runtime is still running here.
    fn drop(&mut self) {
        let socket = self.runner.socket().to_path_buf();
        if !socket.exists() {
            return;
        }
        let stop = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            rt.block_on(async {
                if let Ok(mut client) = Client::connect(&socket, "client-test/cleanup").await {
                    let _ = client
                        .request(oqto_protocol::Command::RunnerShutdown {})
                        .await;
                }
            });
        });
        let _ = stop.join();
    }
}

/// The events of `session` until it is idle again after working, with their raw lines.
pub async fn until_idle(client: &mut Client, session: &SessionId) -> Vec<(Event, String)> {
    let mut out = Vec::new();
    let mut worked = false;
    tokio::time::timeout(WAIT, async {
        loop {
            match client.next().await {
                Incoming::Event(event, raw) if &event.session == session => {
                    let state = match &event.kind {
                        EventKind::State { state, .. } => Some(*state),
                        _ => None,
                    };
                    out.push((*event, raw));
                    match state {
                        Some(State::Working) => worked = true,
                        Some(State::Idle) if worked => return,
                        _ => {}
                    }
                }
                Incoming::Closed(why) => panic!("connection closed: {why:?}"),
                _ => {}
            }
        }
    })
    .await
    .expect("the turn ends");
    out
}

pub fn seqs(events: &[(Event, String)]) -> Vec<Seq> {
    events.iter().map(|(e, _)| e.seq).collect()
}
