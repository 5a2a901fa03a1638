# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_oqto_sandbox_global_optspecs
    string join \n v/verbose q/quiet profile= config= workspace= expose= deny= pass-env= tty print json h/help V/version
end

function __fish_oqto_sandbox_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_oqto_sandbox_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_oqto_sandbox_using_subcommand
    set -l cmd (__fish_oqto_sandbox_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c oqto-sandbox -n "__fish_oqto_sandbox_needs_command" -l profile -d 'Apply this profile (built-in: minimal, development, strict; or one defined in the system or user policy). It is merged like a policy file: it can only tighten' -r
complete -c oqto-sandbox -n "__fish_oqto_sandbox_needs_command" -l config -d 'Also apply this policy file (repeatable); like a workspace policy, it can only tighten' -r -F
complete -c oqto-sandbox -n "__fish_oqto_sandbox_needs_command" -l workspace -d 'The workspace: writable inside the sandbox, and the place of `.oqto/sandbox.toml` [default: the current directory]' -r -F
complete -c oqto-sandbox -n "__fish_oqto_sandbox_needs_command" -l expose -d 'Make this absolute path visible read-only (repeatable), after the merge: for the caller\'s own needs, such as the directory a harness is installed in. Denied paths stay hidden' -r -F
complete -c oqto-sandbox -n "__fish_oqto_sandbox_needs_command" -l deny -d 'Hide this absolute path (repeatable), like a `deny_read` rule' -r -F
complete -c oqto-sandbox -n "__fish_oqto_sandbox_needs_command" -l pass-env -d 'Pass this environment variable in (repeatable; an exact name), after the merge: for variables the caller set for the command itself' -r
complete -c oqto-sandbox -n "__fish_oqto_sandbox_needs_command" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c oqto-sandbox -n "__fish_oqto_sandbox_needs_command" -s q -l quiet -d 'Only errors on stderr'
complete -c oqto-sandbox -n "__fish_oqto_sandbox_needs_command" -l tty -d 'Keep the caller\'s session and make the terminal on the command\'s standard input its controlling terminal, with the command in the foreground (job control, Ctrl-C, window size changes). Only for a terminal the caller made for this command alone (a runner terminal)'
complete -c oqto-sandbox -n "__fish_oqto_sandbox_needs_command" -l print -d 'Print the bwrap command line (one argument per line) instead of running it'
complete -c oqto-sandbox -n "__fish_oqto_sandbox_needs_command" -l json -d 'With --print: print a JSON object (argv, and the names of the passed variables)'
complete -c oqto-sandbox -n "__fish_oqto_sandbox_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c oqto-sandbox -n "__fish_oqto_sandbox_needs_command" -s V -l version -d 'Print version'
complete -c oqto-sandbox -n "__fish_oqto_sandbox_needs_command" -a "check" -d 'Check that this machine can run the sandbox: bwrap, user namespaces, seccomp'
complete -c oqto-sandbox -n "__fish_oqto_sandbox_needs_command" -a "explain" -d 'Print the effective policy and where each rule came from'
complete -c oqto-sandbox -n "__fish_oqto_sandbox_needs_command" -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c oqto-sandbox -n "__fish_oqto_sandbox_using_subcommand check" -l json -d 'Print a JSON object instead of text'
complete -c oqto-sandbox -n "__fish_oqto_sandbox_using_subcommand check" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c oqto-sandbox -n "__fish_oqto_sandbox_using_subcommand check" -s q -l quiet -d 'Only errors on stderr'
complete -c oqto-sandbox -n "__fish_oqto_sandbox_using_subcommand check" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c oqto-sandbox -n "__fish_oqto_sandbox_using_subcommand explain" -l profile -d 'Apply this profile (built-in: minimal, development, strict; or one defined in the system or user policy). It is merged like a policy file: it can only tighten' -r
complete -c oqto-sandbox -n "__fish_oqto_sandbox_using_subcommand explain" -l config -d 'Also apply this policy file (repeatable); like a workspace policy, it can only tighten' -r -F
complete -c oqto-sandbox -n "__fish_oqto_sandbox_using_subcommand explain" -l workspace -d 'The workspace: writable inside the sandbox, and the place of `.oqto/sandbox.toml` [default: the current directory]' -r -F
complete -c oqto-sandbox -n "__fish_oqto_sandbox_using_subcommand explain" -l expose -d 'Make this absolute path visible read-only (repeatable), after the merge: for the caller\'s own needs, such as the directory a harness is installed in. Denied paths stay hidden' -r -F
complete -c oqto-sandbox -n "__fish_oqto_sandbox_using_subcommand explain" -l deny -d 'Hide this absolute path (repeatable), like a `deny_read` rule' -r -F
complete -c oqto-sandbox -n "__fish_oqto_sandbox_using_subcommand explain" -l pass-env -d 'Pass this environment variable in (repeatable; an exact name), after the merge: for variables the caller set for the command itself' -r
complete -c oqto-sandbox -n "__fish_oqto_sandbox_using_subcommand explain" -l tty -d 'Keep the caller\'s session and make the terminal on the command\'s standard input its controlling terminal, with the command in the foreground (job control, Ctrl-C, window size changes). Only for a terminal the caller made for this command alone (a runner terminal)'
complete -c oqto-sandbox -n "__fish_oqto_sandbox_using_subcommand explain" -l json -d 'Print a JSON object instead of text'
complete -c oqto-sandbox -n "__fish_oqto_sandbox_using_subcommand explain" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c oqto-sandbox -n "__fish_oqto_sandbox_using_subcommand explain" -s q -l quiet -d 'Only errors on stderr'
complete -c oqto-sandbox -n "__fish_oqto_sandbox_using_subcommand explain" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c oqto-sandbox -n "__fish_oqto_sandbox_using_subcommand help; and not __fish_seen_subcommand_from check explain help" -f -a "check" -d 'Check that this machine can run the sandbox: bwrap, user namespaces, seccomp'
complete -c oqto-sandbox -n "__fish_oqto_sandbox_using_subcommand help; and not __fish_seen_subcommand_from check explain help" -f -a "explain" -d 'Print the effective policy and where each rule came from'
complete -c oqto-sandbox -n "__fish_oqto_sandbox_using_subcommand help; and not __fish_seen_subcommand_from check explain help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
