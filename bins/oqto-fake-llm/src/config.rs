//! The command line's server flags, validated into where to listen and a [`Config`].

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use oqto_fake_llm_core::Config;

use oqto_cli::{CliError, Exit};

use crate::cli::ServeArgs;

/// Where to listen, and where to announce the port.
#[derive(Clone, Debug)]
pub(crate) struct Listen {
    pub addr: SocketAddr,
    pub port_file: Option<PathBuf>,
}

/// Validates the server flags: the host must be a loopback address.
pub(crate) fn resolve(args: ServeArgs) -> Result<(Listen, Config), CliError> {
    let ip = parse_loopback(&args.host)?;
    let listen = Listen {
        addr: SocketAddr::new(ip, args.port),
        port_file: args.port_file,
    };
    let config = Config {
        delay: Duration::from_millis(args.delay_ms),
        slow_delay: Duration::from_millis(args.slow_delay_ms),
        request_log: args.request_log,
    };
    Ok((listen, config))
}

fn parse_loopback(host: &str) -> Result<IpAddr, CliError> {
    let ip = if host.eq_ignore_ascii_case("localhost") {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .map_err(|_| {
                CliError::new(Exit::Usage, format!("--host {host:?} is not an IP address"))
                    .with_hint("use --host 127.0.0.1")
            })?
    };
    if !ip.is_loopback() {
        return Err(CliError::new(
            Exit::Usage,
            format!("refusing to listen on {ip}: oqto-fake-llm serves loopback addresses only"),
        )
        .with_hint("use --host 127.0.0.1 (or ::1)"));
    }
    Ok(ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_accepted_and_others_refused() {
        assert_eq!(
            parse_loopback("127.0.0.1").unwrap(),
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        );
        assert_eq!(
            parse_loopback("localhost").unwrap(),
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        );
        assert!(parse_loopback("127.0.0.2").unwrap().is_loopback());
        assert!(parse_loopback("[::1]").unwrap().is_loopback());
        for bad in ["0.0.0.0", "192.168.1.10", "::", "example.com"] {
            let err = parse_loopback(bad).unwrap_err();
            assert_eq!(err.exit, Exit::Usage, "{bad}");
        }
        assert!(
            parse_loopback("0.0.0.0")
                .unwrap_err()
                .message
                .contains("loopback")
        );
    }
}
