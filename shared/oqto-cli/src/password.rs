//! The arguments of `oqto-relay password` and `oqtoctl password` (which runs the relay's
//! with the same arguments).

use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct PasswordArgs {
    /// The user whose password to set (default: your account's name, local mode's one user)
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
}

impl PasswordArgs {
    /// The arguments after `password` that ask `oqto-relay` for the same thing.
    pub fn to_args(&self) -> Vec<&str> {
        match &self.name {
            Some(name) => vec!["--name", name],
            None => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: PasswordArgs,
    }

    #[test]
    fn the_arguments_parse_back_to_the_same_command() {
        for line in [&["x", "--name", "alice"][..], &["x"][..]] {
            let first = Cli::parse_from(line).args;
            let again = Cli::parse_from(std::iter::once("x").chain(first.to_args())).args;
            assert_eq!(format!("{first:?}"), format!("{again:?}"));
        }
    }
}
