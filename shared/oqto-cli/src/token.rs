//! The `token` subcommands of the relay's API tokens, as `oqto-relay token …` and
//! `oqtoctl token …` both take them (oqtoctl runs the relay's with the same arguments).

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it once (only its hash is kept)
    Create {
        /// A name to recognise it by in `list` and to revoke it with
        #[arg(long, default_value = "token")]
        name: String,
        /// Make it expire after this long (e.g. `30d`, `12h`); default: never
        #[arg(long, value_name = "DURATION")]
        expires: Option<String>,
    },
    /// List tokens: id, name, created, expires, last used (never the tokens)
    List {
        /// One JSON object per line
        #[arg(long)]
        json: bool,
    },
    /// Revoke tokens by id or name
    Revoke {
        /// The token's id (`tok_…`) or name
        id: String,
    },
}

impl TokenCommand {
    /// The arguments after `token` that ask `oqto-relay` for the same thing.
    pub fn to_args(&self) -> Vec<&str> {
        let mut args = Vec::new();
        match self {
            TokenCommand::Create { name, expires } => {
                args.extend(["create", "--name", name]);
                if let Some(expires) = expires {
                    args.extend(["--expires", expires]);
                }
            }
            TokenCommand::List { json } => {
                args.push("list");
                if *json {
                    args.push("--json");
                }
            }
            TokenCommand::Revoke { id } => args.extend(["revoke", id]),
        }
        args
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        token: TokenCommand,
    }

    #[test]
    fn the_arguments_parse_back_to_the_same_command() {
        for line in [
            &["x", "create", "--name", "ci", "--expires", "30d"][..],
            &["x", "create"][..],
            &["x", "list", "--json"][..],
            &["x", "revoke", "tok_1"][..],
        ] {
            let first = Cli::parse_from(line).token;
            let again = Cli::parse_from(std::iter::once("x").chain(first.to_args())).token;
            assert_eq!(format!("{first:?}"), format!("{again:?}"));
        }
    }
}
