# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_oqto_fake_llm_global_optspecs
    string join \n host= port= port-file= log= delay-ms= slow-delay-ms= v/verbose q/quiet h/help V/version
end

function __fish_oqto_fake_llm_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_oqto_fake_llm_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_oqto_fake_llm_using_subcommand
    set -l cmd (__fish_oqto_fake_llm_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c oqto-fake-llm -n "__fish_oqto_fake_llm_needs_command" -l host -d 'Address to listen on: a loopback address (127.0.0.0/8, the IPv6 loopback, or localhost)' -r
complete -c oqto-fake-llm -n "__fish_oqto_fake_llm_needs_command" -l port -d 'Port to listen on (0 picks any free port)' -r
complete -c oqto-fake-llm -n "__fish_oqto_fake_llm_needs_command" -l port-file -d 'Once listening, write the port number to this file (atomically: temp file and rename)' -r -F
complete -c oqto-fake-llm -n "__fish_oqto_fake_llm_needs_command" -l log -d 'Append each chat-completion request body to FILE, one JSON object per line' -r -F
complete -c oqto-fake-llm -n "__fish_oqto_fake_llm_needs_command" -l delay-ms -d 'Pause before each streamed delta, in milliseconds' -r
complete -c oqto-fake-llm -n "__fish_oqto_fake_llm_needs_command" -l slow-delay-ms -d 'Pause before each word of a `slow` reply, in milliseconds' -r
complete -c oqto-fake-llm -n "__fish_oqto_fake_llm_needs_command" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c oqto-fake-llm -n "__fish_oqto_fake_llm_needs_command" -s q -l quiet -d 'Only errors on stderr'
complete -c oqto-fake-llm -n "__fish_oqto_fake_llm_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c oqto-fake-llm -n "__fish_oqto_fake_llm_needs_command" -s V -l version -d 'Print version'
complete -c oqto-fake-llm -n "__fish_oqto_fake_llm_needs_command" -f -a "pi-config" -d 'Print the pi `models.json` that points pi\'s `demo` provider at a running server'
complete -c oqto-fake-llm -n "__fish_oqto_fake_llm_needs_command" -f -a "agent-env" -d 'Print the environment (NAME=VALUE lines) that points an agent at a running server'
complete -c oqto-fake-llm -n "__fish_oqto_fake_llm_needs_command" -f -a "agent-config" -d 'Print the configuration file an agent reads: Gemini CLI\'s settings.json (`$GEMINI_CLI_HOME/.gemini/settings.json`) or Codex\'s config.toml (`$CODEX_HOME/config.toml`); Claude Code needs none'
complete -c oqto-fake-llm -n "__fish_oqto_fake_llm_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c oqto-fake-llm -n "__fish_oqto_fake_llm_using_subcommand pi-config" -l base-url -d 'The server\'s base URL, the line it prints on stdout when it starts' -r
complete -c oqto-fake-llm -n "__fish_oqto_fake_llm_using_subcommand pi-config" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c oqto-fake-llm -n "__fish_oqto_fake_llm_using_subcommand pi-config" -s q -l quiet -d 'Only errors on stderr'
complete -c oqto-fake-llm -n "__fish_oqto_fake_llm_using_subcommand pi-config" -s h -l help -d 'Print help'
complete -c oqto-fake-llm -n "__fish_oqto_fake_llm_using_subcommand agent-env" -l base-url -d 'The server\'s base URL, the line it prints on stdout when it starts' -r
complete -c oqto-fake-llm -n "__fish_oqto_fake_llm_using_subcommand agent-env" -l home -d 'The agent\'s private home directory' -r -F
complete -c oqto-fake-llm -n "__fish_oqto_fake_llm_using_subcommand agent-env" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c oqto-fake-llm -n "__fish_oqto_fake_llm_using_subcommand agent-env" -s q -l quiet -d 'Only errors on stderr'
complete -c oqto-fake-llm -n "__fish_oqto_fake_llm_using_subcommand agent-env" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c oqto-fake-llm -n "__fish_oqto_fake_llm_using_subcommand agent-config" -l base-url -d 'The server\'s base URL, the line it prints on stdout when it starts' -r
complete -c oqto-fake-llm -n "__fish_oqto_fake_llm_using_subcommand agent-config" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c oqto-fake-llm -n "__fish_oqto_fake_llm_using_subcommand agent-config" -s q -l quiet -d 'Only errors on stderr'
complete -c oqto-fake-llm -n "__fish_oqto_fake_llm_using_subcommand agent-config" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c oqto-fake-llm -n "__fish_oqto_fake_llm_using_subcommand help; and not __fish_seen_subcommand_from pi-config agent-env agent-config help" -f -a "pi-config" -d 'Print the pi `models.json` that points pi\'s `demo` provider at a running server'
complete -c oqto-fake-llm -n "__fish_oqto_fake_llm_using_subcommand help; and not __fish_seen_subcommand_from pi-config agent-env agent-config help" -f -a "agent-env" -d 'Print the environment (NAME=VALUE lines) that points an agent at a running server'
complete -c oqto-fake-llm -n "__fish_oqto_fake_llm_using_subcommand help; and not __fish_seen_subcommand_from pi-config agent-env agent-config help" -f -a "agent-config" -d 'Print the configuration file an agent reads: Gemini CLI\'s settings.json (`$GEMINI_CLI_HOME/.gemini/settings.json`) or Codex\'s config.toml (`$CODEX_HOME/config.toml`); Claude Code needs none'
complete -c oqto-fake-llm -n "__fish_oqto_fake_llm_using_subcommand help; and not __fish_seen_subcommand_from pi-config agent-env agent-config help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
