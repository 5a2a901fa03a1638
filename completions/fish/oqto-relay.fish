# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_oqto_relay_global_optspecs
    string join \n listen= config= tls-cert= tls-key= socket= v/verbose q/quiet h/help V/version
end

function __fish_oqto_relay_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_oqto_relay_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_oqto_relay_using_subcommand
    set -l cmd (__fish_oqto_relay_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c oqto-relay -n "__fish_oqto_relay_needs_command" -l listen -d 'Listen on this address and port (default: from relay.toml, else 127.0.0.1:8420; port 0 picks a free one)' -r
complete -c oqto-relay -n "__fish_oqto_relay_needs_command" -l config -d 'Read this configuration file instead of `$XDG_CONFIG_HOME/oqto/relay.toml` or `/etc/oqto/relay.toml`' -r -F
complete -c oqto-relay -n "__fish_oqto_relay_needs_command" -l tls-cert -d 'Serve HTTPS with this PEM certificate chain (with --tls-key; default: from relay.toml, else plain HTTP)' -r -F
complete -c oqto-relay -n "__fish_oqto_relay_needs_command" -l tls-key -d 'The PEM private key of --tls-cert' -r -F
complete -c oqto-relay -n "__fish_oqto_relay_needs_command" -l socket -d 'The runner\'s socket (default: as the runner resolves it)' -r -F
complete -c oqto-relay -n "__fish_oqto_relay_needs_command" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c oqto-relay -n "__fish_oqto_relay_needs_command" -s q -l quiet -d 'Only errors on stderr'
complete -c oqto-relay -n "__fish_oqto_relay_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c oqto-relay -n "__fish_oqto_relay_needs_command" -s V -l version -d 'Print version'
complete -c oqto-relay -n "__fish_oqto_relay_needs_command" -f -a "link" -d 'Print a fresh one-time login link for the running relay (exit 3 when none runs)'
complete -c oqto-relay -n "__fish_oqto_relay_needs_command" -f -a "token" -d 'Create, list and revoke API tokens (sent as `Authorization: Bearer TOKEN`)'
complete -c oqto-relay -n "__fish_oqto_relay_needs_command" -f -a "password" -d 'Set a password for `POST /login`: read twice from the terminal, or one line of stdin'
complete -c oqto-relay -n "__fish_oqto_relay_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c oqto-relay -n "__fish_oqto_relay_using_subcommand link" -l config -d 'Read this configuration file instead of `$XDG_CONFIG_HOME/oqto/relay.toml` or `/etc/oqto/relay.toml`' -r -F
complete -c oqto-relay -n "__fish_oqto_relay_using_subcommand link" -l socket -d 'The runner\'s socket (default: as the runner resolves it)' -r -F
complete -c oqto-relay -n "__fish_oqto_relay_using_subcommand link" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c oqto-relay -n "__fish_oqto_relay_using_subcommand link" -s q -l quiet -d 'Only errors on stderr'
complete -c oqto-relay -n "__fish_oqto_relay_using_subcommand link" -s h -l help -d 'Print help'
complete -c oqto-relay -n "__fish_oqto_relay_using_subcommand token; and not __fish_seen_subcommand_from create list revoke help" -l config -d 'Read this configuration file instead of `$XDG_CONFIG_HOME/oqto/relay.toml` or `/etc/oqto/relay.toml`' -r -F
complete -c oqto-relay -n "__fish_oqto_relay_using_subcommand token; and not __fish_seen_subcommand_from create list revoke help" -l socket -d 'The runner\'s socket (default: as the runner resolves it)' -r -F
complete -c oqto-relay -n "__fish_oqto_relay_using_subcommand token; and not __fish_seen_subcommand_from create list revoke help" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c oqto-relay -n "__fish_oqto_relay_using_subcommand token; and not __fish_seen_subcommand_from create list revoke help" -s q -l quiet -d 'Only errors on stderr'
complete -c oqto-relay -n "__fish_oqto_relay_using_subcommand token; and not __fish_seen_subcommand_from create list revoke help" -s h -l help -d 'Print help'
complete -c oqto-relay -n "__fish_oqto_relay_using_subcommand token; and not __fish_seen_subcommand_from create list revoke help" -f -a "create" -d 'Create a token and print it once (only its hash is kept)'
complete -c oqto-relay -n "__fish_oqto_relay_using_subcommand token; and not __fish_seen_subcommand_from create list revoke help" -f -a "list" -d 'List tokens: id, name, created, expires, last used (never the tokens)'
complete -c oqto-relay -n "__fish_oqto_relay_using_subcommand token; and not __fish_seen_subcommand_from create list revoke help" -f -a "revoke" -d 'Revoke tokens by id or name'
complete -c oqto-relay -n "__fish_oqto_relay_using_subcommand token; and not __fish_seen_subcommand_from create list revoke help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c oqto-relay -n "__fish_oqto_relay_using_subcommand token; and __fish_seen_subcommand_from create" -l name -d 'A name to recognise it by in `list` and to revoke it with' -r
complete -c oqto-relay -n "__fish_oqto_relay_using_subcommand token; and __fish_seen_subcommand_from create" -l expires -d 'Make it expire after this long (e.g. `30d`, `12h`); default: never' -r
complete -c oqto-relay -n "__fish_oqto_relay_using_subcommand token; and __fish_seen_subcommand_from create" -l config -d 'Read this configuration file instead of `$XDG_CONFIG_HOME/oqto/relay.toml` or `/etc/oqto/relay.toml`' -r -F
complete -c oqto-relay -n "__fish_oqto_relay_using_subcommand token; and __fish_seen_subcommand_from create" -l socket -d 'The runner\'s socket (default: as the runner resolves it)' -r -F
complete -c oqto-relay -n "__fish_oqto_relay_using_subcommand token; and __fish_seen_subcommand_from create" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c oqto-relay -n "__fish_oqto_relay_using_subcommand token; and __fish_seen_subcommand_from create" -s q -l quiet -d 'Only errors on stderr'
complete -c oqto-relay -n "__fish_oqto_relay_using_subcommand token; and __fish_seen_subcommand_from create" -s h -l help -d 'Print help'
complete -c oqto-relay -n "__fish_oqto_relay_using_subcommand token; and __fish_seen_subcommand_from list" -l config -d 'Read this configuration file instead of `$XDG_CONFIG_HOME/oqto/relay.toml` or `/etc/oqto/relay.toml`' -r -F
complete -c oqto-relay -n "__fish_oqto_relay_using_subcommand token; and __fish_seen_subcommand_from list" -l socket -d 'The runner\'s socket (default: as the runner resolves it)' -r -F
complete -c oqto-relay -n "__fish_oqto_relay_using_subcommand token; and __fish_seen_subcommand_from list" -l json -d 'One JSON object per line'
complete -c oqto-relay -n "__fish_oqto_relay_using_subcommand token; and __fish_seen_subcommand_from list" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c oqto-relay -n "__fish_oqto_relay_using_subcommand token; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Only errors on stderr'
complete -c oqto-relay -n "__fish_oqto_relay_using_subcommand token; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c oqto-relay -n "__fish_oqto_relay_using_subcommand token; and __fish_seen_subcommand_from revoke" -l config -d 'Read this configuration file instead of `$XDG_CONFIG_HOME/oqto/relay.toml` or `/etc/oqto/relay.toml`' -r -F
complete -c oqto-relay -n "__fish_oqto_relay_using_subcommand token; and __fish_seen_subcommand_from revoke" -l socket -d 'The runner\'s socket (default: as the runner resolves it)' -r -F
complete -c oqto-relay -n "__fish_oqto_relay_using_subcommand token; and __fish_seen_subcommand_from revoke" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c oqto-relay -n "__fish_oqto_relay_using_subcommand token; and __fish_seen_subcommand_from revoke" -s q -l quiet -d 'Only errors on stderr'
complete -c oqto-relay -n "__fish_oqto_relay_using_subcommand token; and __fish_seen_subcommand_from revoke" -s h -l help -d 'Print help'
complete -c oqto-relay -n "__fish_oqto_relay_using_subcommand token; and __fish_seen_subcommand_from help" -f -a "create" -d 'Create a token and print it once (only its hash is kept)'
complete -c oqto-relay -n "__fish_oqto_relay_using_subcommand token; and __fish_seen_subcommand_from help" -f -a "list" -d 'List tokens: id, name, created, expires, last used (never the tokens)'
complete -c oqto-relay -n "__fish_oqto_relay_using_subcommand token; and __fish_seen_subcommand_from help" -f -a "revoke" -d 'Revoke tokens by id or name'
complete -c oqto-relay -n "__fish_oqto_relay_using_subcommand token; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c oqto-relay -n "__fish_oqto_relay_using_subcommand password" -l name -d 'The user whose password to set (default: your account\'s name, local mode\'s one user)' -r
complete -c oqto-relay -n "__fish_oqto_relay_using_subcommand password" -l config -d 'Read this configuration file instead of `$XDG_CONFIG_HOME/oqto/relay.toml` or `/etc/oqto/relay.toml`' -r -F
complete -c oqto-relay -n "__fish_oqto_relay_using_subcommand password" -l socket -d 'The runner\'s socket (default: as the runner resolves it)' -r -F
complete -c oqto-relay -n "__fish_oqto_relay_using_subcommand password" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c oqto-relay -n "__fish_oqto_relay_using_subcommand password" -s q -l quiet -d 'Only errors on stderr'
complete -c oqto-relay -n "__fish_oqto_relay_using_subcommand password" -s h -l help -d 'Print help'
complete -c oqto-relay -n "__fish_oqto_relay_using_subcommand help; and not __fish_seen_subcommand_from link token password help" -f -a "link" -d 'Print a fresh one-time login link for the running relay (exit 3 when none runs)'
complete -c oqto-relay -n "__fish_oqto_relay_using_subcommand help; and not __fish_seen_subcommand_from link token password help" -f -a "token" -d 'Create, list and revoke API tokens (sent as `Authorization: Bearer TOKEN`)'
complete -c oqto-relay -n "__fish_oqto_relay_using_subcommand help; and not __fish_seen_subcommand_from link token password help" -f -a "password" -d 'Set a password for `POST /login`: read twice from the terminal, or one line of stdin'
complete -c oqto-relay -n "__fish_oqto_relay_using_subcommand help; and not __fish_seen_subcommand_from link token password help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c oqto-relay -n "__fish_oqto_relay_using_subcommand help; and __fish_seen_subcommand_from token" -f -a "create" -d 'Create a token and print it once (only its hash is kept)'
complete -c oqto-relay -n "__fish_oqto_relay_using_subcommand help; and __fish_seen_subcommand_from token" -f -a "list" -d 'List tokens: id, name, created, expires, last used (never the tokens)'
complete -c oqto-relay -n "__fish_oqto_relay_using_subcommand help; and __fish_seen_subcommand_from token" -f -a "revoke" -d 'Revoke tokens by id or name'
