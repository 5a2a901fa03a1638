# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_oqtoctl_global_optspecs
    string join \n v/verbose q/quiet socket= no-autostart relay= token-file= relay-ca= h/help V/version
end

function __fish_oqtoctl_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_oqtoctl_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_oqtoctl_using_subcommand
    set -l cmd (__fish_oqtoctl_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c oqtoctl -n "__fish_oqtoctl_needs_command" -l socket -d 'Talk to the runner on this socket (default: as the runner resolves it)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_needs_command" -l relay -d 'Talk to the runner through the oqto-relay at this URL (https://HOST[:PORT], or http://, wss://, ws://), with the API token in OQTO_TOKEN or --token-file' -r
complete -c oqtoctl -n "__fish_oqtoctl_needs_command" -l token-file -d 'With --relay: read the API token from this file (instead of OQTO_TOKEN)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_needs_command" -l relay-ca -d 'With --relay over https/wss: also trust the CA certificates in this PEM file' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_needs_command" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c oqtoctl -n "__fish_oqtoctl_needs_command" -s q -l quiet -d 'Only errors on stderr'
complete -c oqtoctl -n "__fish_oqtoctl_needs_command" -l no-autostart -d 'Fail (exit 3) instead of starting a runner when none answers'
complete -c oqtoctl -n "__fish_oqtoctl_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c oqtoctl -n "__fish_oqtoctl_needs_command" -s V -l version -d 'Print version'
complete -c oqtoctl -n "__fish_oqtoctl_needs_command" -f -a "prompt" -d 'Send a prompt to an agent and follow the turn until it ends'
complete -c oqtoctl -n "__fish_oqtoctl_needs_command" -f -a "sessions" -d 'List sessions, newest activity first'
complete -c oqtoctl -n "__fish_oqtoctl_needs_command" -f -a "ls" -d 'List sessions, newest activity first'
complete -c oqtoctl -n "__fish_oqtoctl_needs_command" -f -a "session" -d 'Show, delete, rename or close one session'
complete -c oqtoctl -n "__fish_oqtoctl_needs_command" -f -a "attach" -d 'Follow a session\'s events live (reconnecting across runner restarts)'
complete -c oqtoctl -n "__fish_oqtoctl_needs_command" -f -a "abort" -d 'Stop the session\'s running turn'
complete -c oqtoctl -n "__fish_oqtoctl_needs_command" -f -a "steer" -d 'Redirect the running turn: delivered after the current tool calls finish'
complete -c oqtoctl -n "__fish_oqtoctl_needs_command" -f -a "follow-up" -d 'Queue a message for when the agent would otherwise stop'
complete -c oqtoctl -n "__fish_oqtoctl_needs_command" -f -a "messages" -d 'Print a session\'s stored messages'
complete -c oqtoctl -n "__fish_oqtoctl_needs_command" -f -a "history" -d 'Search and import the conversation history'
complete -c oqtoctl -n "__fish_oqtoctl_needs_command" -f -a "models" -d 'List the models a harness can use'
complete -c oqtoctl -n "__fish_oqtoctl_needs_command" -f -a "audit" -d 'The audit log: permissions asked and who answered them, tool calls started and ended'
complete -c oqtoctl -n "__fish_oqtoctl_needs_command" -f -a "runner" -d 'Start, stop and inspect the runner'
complete -c oqtoctl -n "__fish_oqtoctl_needs_command" -f -a "doctor" -d 'Check the set-up: pi, bubblewrap, the socket, the runner, the model'
complete -c oqtoctl -n "__fish_oqtoctl_needs_command" -f -a "shell" -d 'Open a shell on a terminal the runner owns (sandboxed like the agent), or attach to one'
complete -c oqtoctl -n "__fish_oqtoctl_needs_command" -f -a "terminals" -d 'List the runner\'s terminals'
complete -c oqtoctl -n "__fish_oqtoctl_needs_command" -f -a "completions" -d 'Print a shell completion script to stdout'
complete -c oqtoctl -n "__fish_oqtoctl_needs_command" -f -a "web" -d 'Print a one-time login link for the web UI (starting oqto-relay if none runs)'
complete -c oqtoctl -n "__fish_oqtoctl_needs_command" -f -a "token" -d 'Create, list and revoke API tokens for the relay'
complete -c oqtoctl -n "__fish_oqtoctl_needs_command" -f -a "password" -d 'Set the password of the relay\'s login page (read twice from the terminal, or one line of stdin)'
complete -c oqtoctl -n "__fish_oqtoctl_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand prompt" -s f -l file -d 'Read the prompt from this file' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand prompt" -s s -l session -d 'Continue this session instead of starting a new one' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand prompt" -l cwd -d 'The agent\'s working directory for a new session' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand prompt" -l harness -d 'The harness for a new session (default: the runner\'s; `demo` when pi has no model configured)' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand prompt" -s m -l model -d 'The model for a new session: `ID` or `PROVIDER/ID`' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand prompt" -l sandbox -d 'The sandbox profile for a new session' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand prompt" -l title -d 'A title for a new session (default: from the prompt)' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand prompt" -l timeout -d 'Give up after this long (e.g. `90s`, `10m`): the turn is aborted, exit 6' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand prompt" -s o -l output -d 'What to print (default: `events` on a pipe, `human` on a terminal)' -r -f -a "events\t'Canonical events, one JSON object per line (the default when stdout is not a terminal)'
human\t'A rendering for people (the default on a terminal)'
text\t'Only the assistant\'s streamed text'
final\t'Only the final assistant message\'s text, once the turn ends'"
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand prompt" -l color -d 'Colour in human output' -r -f -a "auto\t'Colour when stdout is a terminal and `NO_COLOR` is unset'
always\t''
never\t''"
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand prompt" -l approve -d 'How to answer the agent\'s permission requests without asking (default: ask on a terminal; refuse on a pipe, with an error naming this flag)' -r -f -a "all\t'Allow every tool call the agent asks about'
none\t'Refuse every one'
read-only\t'Allow reading, searching and thinking; refuse the rest'"
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand prompt" -l socket -d 'Talk to the runner on this socket (default: as the runner resolves it)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand prompt" -l relay -d 'Talk to the runner through the oqto-relay at this URL (https://HOST[:PORT], or http://, wss://, ws://), with the API token in OQTO_TOKEN or --token-file' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand prompt" -l token-file -d 'With --relay: read the API token from this file (instead of OQTO_TOKEN)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand prompt" -l relay-ca -d 'With --relay over https/wss: also trust the CA certificates in this PEM file' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand prompt" -l new -d 'Start a new session (the default)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand prompt" -s d -l detach -d 'Print the session id and return; the turn goes on in the runner'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand prompt" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand prompt" -s q -l quiet -d 'Only errors on stderr'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand prompt" -l no-autostart -d 'Fail (exit 3) instead of starting a runner when none answers'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand prompt" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand sessions" -l state -d 'Only sessions in this state' -r -f -a "starting\t''
idle\t''
working\t''
error\t''
stopped\t''"
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand sessions" -l harness -d 'Only sessions of this harness' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand sessions" -l cwd -d 'Only sessions whose directory is this one or below it' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand sessions" -l socket -d 'Talk to the runner on this socket (default: as the runner resolves it)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand sessions" -l relay -d 'Talk to the runner through the oqto-relay at this URL (https://HOST[:PORT], or http://, wss://, ws://), with the API token in OQTO_TOKEN or --token-file' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand sessions" -l token-file -d 'With --relay: read the API token from this file (instead of OQTO_TOKEN)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand sessions" -l relay-ca -d 'With --relay over https/wss: also trust the CA certificates in this PEM file' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand sessions" -l json -d 'One JSON object per line'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand sessions" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand sessions" -s q -l quiet -d 'Only errors on stderr'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand sessions" -l no-autostart -d 'Fail (exit 3) instead of starting a runner when none answers'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand sessions" -s h -l help -d 'Print help'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand ls" -l state -d 'Only sessions in this state' -r -f -a "starting\t''
idle\t''
working\t''
error\t''
stopped\t''"
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand ls" -l harness -d 'Only sessions of this harness' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand ls" -l cwd -d 'Only sessions whose directory is this one or below it' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand ls" -l socket -d 'Talk to the runner on this socket (default: as the runner resolves it)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand ls" -l relay -d 'Talk to the runner through the oqto-relay at this URL (https://HOST[:PORT], or http://, wss://, ws://), with the API token in OQTO_TOKEN or --token-file' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand ls" -l token-file -d 'With --relay: read the API token from this file (instead of OQTO_TOKEN)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand ls" -l relay-ca -d 'With --relay over https/wss: also trust the CA certificates in this PEM file' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand ls" -l json -d 'One JSON object per line'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand ls" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand ls" -s q -l quiet -d 'Only errors on stderr'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand ls" -l no-autostart -d 'Fail (exit 3) instead of starting a runner when none answers'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand ls" -s h -l help -d 'Print help'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and not __fish_seen_subcommand_from show rm delete rename close help" -l socket -d 'Talk to the runner on this socket (default: as the runner resolves it)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and not __fish_seen_subcommand_from show rm delete rename close help" -l relay -d 'Talk to the runner through the oqto-relay at this URL (https://HOST[:PORT], or http://, wss://, ws://), with the API token in OQTO_TOKEN or --token-file' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and not __fish_seen_subcommand_from show rm delete rename close help" -l token-file -d 'With --relay: read the API token from this file (instead of OQTO_TOKEN)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and not __fish_seen_subcommand_from show rm delete rename close help" -l relay-ca -d 'With --relay over https/wss: also trust the CA certificates in this PEM file' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and not __fish_seen_subcommand_from show rm delete rename close help" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and not __fish_seen_subcommand_from show rm delete rename close help" -s q -l quiet -d 'Only errors on stderr'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and not __fish_seen_subcommand_from show rm delete rename close help" -l no-autostart -d 'Fail (exit 3) instead of starting a runner when none answers'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and not __fish_seen_subcommand_from show rm delete rename close help" -s h -l help -d 'Print help'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and not __fish_seen_subcommand_from show rm delete rename close help" -f -a "show" -d 'Everything the runner knows of a session'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and not __fish_seen_subcommand_from show rm delete rename close help" -f -a "rm" -d 'Delete sessions with their history (their harnesses are stopped)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and not __fish_seen_subcommand_from show rm delete rename close help" -f -a "delete" -d 'Delete sessions with their history (their harnesses are stopped)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and not __fish_seen_subcommand_from show rm delete rename close help" -f -a "rename" -d 'Give a session a new title'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and not __fish_seen_subcommand_from show rm delete rename close help" -f -a "close" -d 'Stop a session\'s harness; the session and its history stay'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and not __fish_seen_subcommand_from show rm delete rename close help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and __fish_seen_subcommand_from show" -l socket -d 'Talk to the runner on this socket (default: as the runner resolves it)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and __fish_seen_subcommand_from show" -l relay -d 'Talk to the runner through the oqto-relay at this URL (https://HOST[:PORT], or http://, wss://, ws://), with the API token in OQTO_TOKEN or --token-file' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and __fish_seen_subcommand_from show" -l token-file -d 'With --relay: read the API token from this file (instead of OQTO_TOKEN)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and __fish_seen_subcommand_from show" -l relay-ca -d 'With --relay over https/wss: also trust the CA certificates in this PEM file' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and __fish_seen_subcommand_from show" -l json
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and __fish_seen_subcommand_from show" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and __fish_seen_subcommand_from show" -s q -l quiet -d 'Only errors on stderr'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and __fish_seen_subcommand_from show" -l no-autostart -d 'Fail (exit 3) instead of starting a runner when none answers'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and __fish_seen_subcommand_from rm" -l socket -d 'Talk to the runner on this socket (default: as the runner resolves it)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and __fish_seen_subcommand_from rm" -l relay -d 'Talk to the runner through the oqto-relay at this URL (https://HOST[:PORT], or http://, wss://, ws://), with the API token in OQTO_TOKEN or --token-file' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and __fish_seen_subcommand_from rm" -l token-file -d 'With --relay: read the API token from this file (instead of OQTO_TOKEN)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and __fish_seen_subcommand_from rm" -l relay-ca -d 'With --relay over https/wss: also trust the CA certificates in this PEM file' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and __fish_seen_subcommand_from rm" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and __fish_seen_subcommand_from rm" -s q -l quiet -d 'Only errors on stderr'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and __fish_seen_subcommand_from rm" -l no-autostart -d 'Fail (exit 3) instead of starting a runner when none answers'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and __fish_seen_subcommand_from rm" -s h -l help -d 'Print help'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and __fish_seen_subcommand_from delete" -l socket -d 'Talk to the runner on this socket (default: as the runner resolves it)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and __fish_seen_subcommand_from delete" -l relay -d 'Talk to the runner through the oqto-relay at this URL (https://HOST[:PORT], or http://, wss://, ws://), with the API token in OQTO_TOKEN or --token-file' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and __fish_seen_subcommand_from delete" -l token-file -d 'With --relay: read the API token from this file (instead of OQTO_TOKEN)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and __fish_seen_subcommand_from delete" -l relay-ca -d 'With --relay over https/wss: also trust the CA certificates in this PEM file' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and __fish_seen_subcommand_from delete" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and __fish_seen_subcommand_from delete" -s q -l quiet -d 'Only errors on stderr'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and __fish_seen_subcommand_from delete" -l no-autostart -d 'Fail (exit 3) instead of starting a runner when none answers'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and __fish_seen_subcommand_from delete" -s h -l help -d 'Print help'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and __fish_seen_subcommand_from rename" -l socket -d 'Talk to the runner on this socket (default: as the runner resolves it)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and __fish_seen_subcommand_from rename" -l relay -d 'Talk to the runner through the oqto-relay at this URL (https://HOST[:PORT], or http://, wss://, ws://), with the API token in OQTO_TOKEN or --token-file' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and __fish_seen_subcommand_from rename" -l token-file -d 'With --relay: read the API token from this file (instead of OQTO_TOKEN)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and __fish_seen_subcommand_from rename" -l relay-ca -d 'With --relay over https/wss: also trust the CA certificates in this PEM file' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and __fish_seen_subcommand_from rename" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and __fish_seen_subcommand_from rename" -s q -l quiet -d 'Only errors on stderr'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and __fish_seen_subcommand_from rename" -l no-autostart -d 'Fail (exit 3) instead of starting a runner when none answers'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and __fish_seen_subcommand_from rename" -s h -l help -d 'Print help'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and __fish_seen_subcommand_from close" -l socket -d 'Talk to the runner on this socket (default: as the runner resolves it)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and __fish_seen_subcommand_from close" -l relay -d 'Talk to the runner through the oqto-relay at this URL (https://HOST[:PORT], or http://, wss://, ws://), with the API token in OQTO_TOKEN or --token-file' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and __fish_seen_subcommand_from close" -l token-file -d 'With --relay: read the API token from this file (instead of OQTO_TOKEN)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and __fish_seen_subcommand_from close" -l relay-ca -d 'With --relay over https/wss: also trust the CA certificates in this PEM file' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and __fish_seen_subcommand_from close" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and __fish_seen_subcommand_from close" -s q -l quiet -d 'Only errors on stderr'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and __fish_seen_subcommand_from close" -l no-autostart -d 'Fail (exit 3) instead of starting a runner when none answers'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and __fish_seen_subcommand_from close" -s h -l help -d 'Print help'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and __fish_seen_subcommand_from help" -f -a "show" -d 'Everything the runner knows of a session'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and __fish_seen_subcommand_from help" -f -a "rm" -d 'Delete sessions with their history (their harnesses are stopped)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and __fish_seen_subcommand_from help" -f -a "rename" -d 'Give a session a new title'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and __fish_seen_subcommand_from help" -f -a "close" -d 'Stop a session\'s harness; the session and its history stay'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand session; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand attach" -l after-seq -d 'First replay every event after this seq' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand attach" -s o -l output -d 'What to print (default: `events` on a pipe, `human` on a terminal)' -r -f -a "events\t'Canonical events, one JSON object per line (the default when stdout is not a terminal)'
human\t'A rendering for people (the default on a terminal)'
text\t'Only the assistant\'s streamed text'
final\t'Only the final assistant message\'s text, once the turn ends'"
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand attach" -l color -d 'Colour in human output' -r -f -a "auto\t'Colour when stdout is a terminal and `NO_COLOR` is unset'
always\t''
never\t''"
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand attach" -l socket -d 'Talk to the runner on this socket (default: as the runner resolves it)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand attach" -l relay -d 'Talk to the runner through the oqto-relay at this URL (https://HOST[:PORT], or http://, wss://, ws://), with the API token in OQTO_TOKEN or --token-file' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand attach" -l token-file -d 'With --relay: read the API token from this file (instead of OQTO_TOKEN)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand attach" -l relay-ca -d 'With --relay over https/wss: also trust the CA certificates in this PEM file' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand attach" -l until-idle -d 'Exit once the session is at rest (when the running turn ends, or at once if none runs), with the status `prompt` gives for its last turn (5 failed, 7 aborted)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand attach" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand attach" -s q -l quiet -d 'Only errors on stderr'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand attach" -l no-autostart -d 'Fail (exit 3) instead of starting a runner when none answers'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand attach" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand abort" -l socket -d 'Talk to the runner on this socket (default: as the runner resolves it)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand abort" -l relay -d 'Talk to the runner through the oqto-relay at this URL (https://HOST[:PORT], or http://, wss://, ws://), with the API token in OQTO_TOKEN or --token-file' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand abort" -l token-file -d 'With --relay: read the API token from this file (instead of OQTO_TOKEN)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand abort" -l relay-ca -d 'With --relay over https/wss: also trust the CA certificates in this PEM file' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand abort" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand abort" -s q -l quiet -d 'Only errors on stderr'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand abort" -l no-autostart -d 'Fail (exit 3) instead of starting a runner when none answers'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand abort" -s h -l help -d 'Print help'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand steer" -l socket -d 'Talk to the runner on this socket (default: as the runner resolves it)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand steer" -l relay -d 'Talk to the runner through the oqto-relay at this URL (https://HOST[:PORT], or http://, wss://, ws://), with the API token in OQTO_TOKEN or --token-file' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand steer" -l token-file -d 'With --relay: read the API token from this file (instead of OQTO_TOKEN)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand steer" -l relay-ca -d 'With --relay over https/wss: also trust the CA certificates in this PEM file' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand steer" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand steer" -s q -l quiet -d 'Only errors on stderr'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand steer" -l no-autostart -d 'Fail (exit 3) instead of starting a runner when none answers'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand steer" -s h -l help -d 'Print help'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand follow-up" -l socket -d 'Talk to the runner on this socket (default: as the runner resolves it)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand follow-up" -l relay -d 'Talk to the runner through the oqto-relay at this URL (https://HOST[:PORT], or http://, wss://, ws://), with the API token in OQTO_TOKEN or --token-file' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand follow-up" -l token-file -d 'With --relay: read the API token from this file (instead of OQTO_TOKEN)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand follow-up" -l relay-ca -d 'With --relay over https/wss: also trust the CA certificates in this PEM file' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand follow-up" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand follow-up" -s q -l quiet -d 'Only errors on stderr'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand follow-up" -l no-autostart -d 'Fail (exit 3) instead of starting a runner when none answers'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand follow-up" -s h -l help -d 'Print help'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand messages" -s n -l limit -d 'How many of the newest messages' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand messages" -l before -d 'Only messages before this message id (paging backwards)' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand messages" -l socket -d 'Talk to the runner on this socket (default: as the runner resolves it)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand messages" -l relay -d 'Talk to the runner through the oqto-relay at this URL (https://HOST[:PORT], or http://, wss://, ws://), with the API token in OQTO_TOKEN or --token-file' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand messages" -l token-file -d 'With --relay: read the API token from this file (instead of OQTO_TOKEN)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand messages" -l relay-ca -d 'With --relay over https/wss: also trust the CA certificates in this PEM file' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand messages" -l json -d 'One JSON message per line'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand messages" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand messages" -s q -l quiet -d 'Only errors on stderr'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand messages" -l no-autostart -d 'Fail (exit 3) instead of starting a runner when none answers'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand messages" -s h -l help -d 'Print help'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand history; and not __fish_seen_subcommand_from search import help" -l socket -d 'Talk to the runner on this socket (default: as the runner resolves it)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand history; and not __fish_seen_subcommand_from search import help" -l relay -d 'Talk to the runner through the oqto-relay at this URL (https://HOST[:PORT], or http://, wss://, ws://), with the API token in OQTO_TOKEN or --token-file' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand history; and not __fish_seen_subcommand_from search import help" -l token-file -d 'With --relay: read the API token from this file (instead of OQTO_TOKEN)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand history; and not __fish_seen_subcommand_from search import help" -l relay-ca -d 'With --relay over https/wss: also trust the CA certificates in this PEM file' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand history; and not __fish_seen_subcommand_from search import help" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand history; and not __fish_seen_subcommand_from search import help" -s q -l quiet -d 'Only errors on stderr'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand history; and not __fish_seen_subcommand_from search import help" -l no-autostart -d 'Fail (exit 3) instead of starting a runner when none answers'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand history; and not __fish_seen_subcommand_from search import help" -s h -l help -d 'Print help'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand history; and not __fish_seen_subcommand_from search import help" -f -a "search" -d 'Full-text search over every stored message of every session'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand history; and not __fish_seen_subcommand_from search import help" -f -a "import" -d 'Import conversations a harness kept on its own (read-only for them)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand history; and not __fish_seen_subcommand_from search import help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand history; and __fish_seen_subcommand_from search" -l harness -d 'Only sessions of this harness' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand history; and __fish_seen_subcommand_from search" -l cwd -d 'Only sessions whose directory is this one or below it' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand history; and __fish_seen_subcommand_from search" -s s -l session -d 'Only this session' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand history; and __fish_seen_subcommand_from search" -l role -d 'Only messages of this role' -r -f -a "user\t''
assistant\t''
system\t''"
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand history; and __fish_seen_subcommand_from search" -l since -d 'Only messages newer than this (a duration like `7d`, `12h`)' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand history; and __fish_seen_subcommand_from search" -l until -d 'Only messages older than this (a duration like `30d`)' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand history; and __fish_seen_subcommand_from search" -s n -l limit -d 'At most this many hits' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand history; and __fish_seen_subcommand_from search" -l socket -d 'Talk to the runner on this socket (default: as the runner resolves it)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand history; and __fish_seen_subcommand_from search" -l relay -d 'Talk to the runner through the oqto-relay at this URL (https://HOST[:PORT], or http://, wss://, ws://), with the API token in OQTO_TOKEN or --token-file' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand history; and __fish_seen_subcommand_from search" -l token-file -d 'With --relay: read the API token from this file (instead of OQTO_TOKEN)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand history; and __fish_seen_subcommand_from search" -l relay-ca -d 'With --relay over https/wss: also trust the CA certificates in this PEM file' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand history; and __fish_seen_subcommand_from search" -l json -d 'One JSON hit per line'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand history; and __fish_seen_subcommand_from search" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand history; and __fish_seen_subcommand_from search" -s q -l quiet -d 'Only errors on stderr'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand history; and __fish_seen_subcommand_from search" -l no-autostart -d 'Fail (exit 3) instead of starting a runner when none answers'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand history; and __fish_seen_subcommand_from search" -s h -l help -d 'Print help'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand history; and __fish_seen_subcommand_from import" -l socket -d 'Talk to the runner on this socket (default: as the runner resolves it)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand history; and __fish_seen_subcommand_from import" -l relay -d 'Talk to the runner through the oqto-relay at this URL (https://HOST[:PORT], or http://, wss://, ws://), with the API token in OQTO_TOKEN or --token-file' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand history; and __fish_seen_subcommand_from import" -l token-file -d 'With --relay: read the API token from this file (instead of OQTO_TOKEN)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand history; and __fish_seen_subcommand_from import" -l relay-ca -d 'With --relay over https/wss: also trust the CA certificates in this PEM file' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand history; and __fish_seen_subcommand_from import" -l json
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand history; and __fish_seen_subcommand_from import" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand history; and __fish_seen_subcommand_from import" -s q -l quiet -d 'Only errors on stderr'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand history; and __fish_seen_subcommand_from import" -l no-autostart -d 'Fail (exit 3) instead of starting a runner when none answers'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand history; and __fish_seen_subcommand_from import" -s h -l help -d 'Print help'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand history; and __fish_seen_subcommand_from help" -f -a "search" -d 'Full-text search over every stored message of every session'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand history; and __fish_seen_subcommand_from help" -f -a "import" -d 'Import conversations a harness kept on its own (read-only for them)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand history; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand models" -s s -l session -d 'Ask this session\'s harness' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand models" -l harness -d 'Ask this harness (a short-lived session is started for it)' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand models" -l socket -d 'Talk to the runner on this socket (default: as the runner resolves it)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand models" -l relay -d 'Talk to the runner through the oqto-relay at this URL (https://HOST[:PORT], or http://, wss://, ws://), with the API token in OQTO_TOKEN or --token-file' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand models" -l token-file -d 'With --relay: read the API token from this file (instead of OQTO_TOKEN)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand models" -l relay-ca -d 'With --relay over https/wss: also trust the CA certificates in this PEM file' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand models" -l json
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand models" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand models" -s q -l quiet -d 'Only errors on stderr'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand models" -l no-autostart -d 'Fail (exit 3) instead of starting a runner when none answers'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand models" -s h -l help -d 'Print help'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand audit" -s s -l session -d 'Only this session' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand audit" -l since -d 'Only entries newer than this (a duration like `7d`, `12h`)' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand audit" -l search -d 'Only entries whose summary contains this text (case-insensitive)' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand audit" -s n -l limit -d 'At most this many entries (the newest)' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand audit" -l socket -d 'Talk to the runner on this socket (default: as the runner resolves it)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand audit" -l relay -d 'Talk to the runner through the oqto-relay at this URL (https://HOST[:PORT], or http://, wss://, ws://), with the API token in OQTO_TOKEN or --token-file' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand audit" -l token-file -d 'With --relay: read the API token from this file (instead of OQTO_TOKEN)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand audit" -l relay-ca -d 'With --relay over https/wss: also trust the CA certificates in this PEM file' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand audit" -l json -d 'One JSON entry per line'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand audit" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand audit" -s q -l quiet -d 'Only errors on stderr'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand audit" -l no-autostart -d 'Fail (exit 3) instead of starting a runner when none answers'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand audit" -s h -l help -d 'Print help'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand runner; and not __fish_seen_subcommand_from start stop status logs help" -l socket -d 'Talk to the runner on this socket (default: as the runner resolves it)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand runner; and not __fish_seen_subcommand_from start stop status logs help" -l relay -d 'Talk to the runner through the oqto-relay at this URL (https://HOST[:PORT], or http://, wss://, ws://), with the API token in OQTO_TOKEN or --token-file' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand runner; and not __fish_seen_subcommand_from start stop status logs help" -l token-file -d 'With --relay: read the API token from this file (instead of OQTO_TOKEN)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand runner; and not __fish_seen_subcommand_from start stop status logs help" -l relay-ca -d 'With --relay over https/wss: also trust the CA certificates in this PEM file' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand runner; and not __fish_seen_subcommand_from start stop status logs help" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand runner; and not __fish_seen_subcommand_from start stop status logs help" -s q -l quiet -d 'Only errors on stderr'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand runner; and not __fish_seen_subcommand_from start stop status logs help" -l no-autostart -d 'Fail (exit 3) instead of starting a runner when none answers'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand runner; and not __fish_seen_subcommand_from start stop status logs help" -s h -l help -d 'Print help'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand runner; and not __fish_seen_subcommand_from start stop status logs help" -f -a "start" -d 'Start a runner in the background unless one answers'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand runner; and not __fish_seen_subcommand_from start stop status logs help" -f -a "stop" -d 'Stop the runner: every harness is stopped, the sessions stay'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand runner; and not __fish_seen_subcommand_from start stop status logs help" -f -a "status" -d 'Whether a runner answers, and what it holds'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand runner; and not __fish_seen_subcommand_from start stop status logs help" -f -a "logs" -d 'Print the log of runners oqtoctl started'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand runner; and not __fish_seen_subcommand_from start stop status logs help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand runner; and __fish_seen_subcommand_from start" -l socket -d 'Talk to the runner on this socket (default: as the runner resolves it)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand runner; and __fish_seen_subcommand_from start" -l relay -d 'Talk to the runner through the oqto-relay at this URL (https://HOST[:PORT], or http://, wss://, ws://), with the API token in OQTO_TOKEN or --token-file' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand runner; and __fish_seen_subcommand_from start" -l token-file -d 'With --relay: read the API token from this file (instead of OQTO_TOKEN)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand runner; and __fish_seen_subcommand_from start" -l relay-ca -d 'With --relay over https/wss: also trust the CA certificates in this PEM file' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand runner; and __fish_seen_subcommand_from start" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand runner; and __fish_seen_subcommand_from start" -s q -l quiet -d 'Only errors on stderr'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand runner; and __fish_seen_subcommand_from start" -l no-autostart -d 'Fail (exit 3) instead of starting a runner when none answers'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand runner; and __fish_seen_subcommand_from start" -s h -l help -d 'Print help'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand runner; and __fish_seen_subcommand_from stop" -l socket -d 'Talk to the runner on this socket (default: as the runner resolves it)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand runner; and __fish_seen_subcommand_from stop" -l relay -d 'Talk to the runner through the oqto-relay at this URL (https://HOST[:PORT], or http://, wss://, ws://), with the API token in OQTO_TOKEN or --token-file' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand runner; and __fish_seen_subcommand_from stop" -l token-file -d 'With --relay: read the API token from this file (instead of OQTO_TOKEN)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand runner; and __fish_seen_subcommand_from stop" -l relay-ca -d 'With --relay over https/wss: also trust the CA certificates in this PEM file' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand runner; and __fish_seen_subcommand_from stop" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand runner; and __fish_seen_subcommand_from stop" -s q -l quiet -d 'Only errors on stderr'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand runner; and __fish_seen_subcommand_from stop" -l no-autostart -d 'Fail (exit 3) instead of starting a runner when none answers'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand runner; and __fish_seen_subcommand_from stop" -s h -l help -d 'Print help'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand runner; and __fish_seen_subcommand_from status" -l socket -d 'Talk to the runner on this socket (default: as the runner resolves it)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand runner; and __fish_seen_subcommand_from status" -l relay -d 'Talk to the runner through the oqto-relay at this URL (https://HOST[:PORT], or http://, wss://, ws://), with the API token in OQTO_TOKEN or --token-file' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand runner; and __fish_seen_subcommand_from status" -l token-file -d 'With --relay: read the API token from this file (instead of OQTO_TOKEN)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand runner; and __fish_seen_subcommand_from status" -l relay-ca -d 'With --relay over https/wss: also trust the CA certificates in this PEM file' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand runner; and __fish_seen_subcommand_from status" -l json -d 'Print JSON'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand runner; and __fish_seen_subcommand_from status" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand runner; and __fish_seen_subcommand_from status" -s q -l quiet -d 'Only errors on stderr'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand runner; and __fish_seen_subcommand_from status" -l no-autostart -d 'Fail (exit 3) instead of starting a runner when none answers'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand runner; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand runner; and __fish_seen_subcommand_from logs" -s n -l lines -d 'Only the last N lines' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand runner; and __fish_seen_subcommand_from logs" -l socket -d 'Talk to the runner on this socket (default: as the runner resolves it)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand runner; and __fish_seen_subcommand_from logs" -l relay -d 'Talk to the runner through the oqto-relay at this URL (https://HOST[:PORT], or http://, wss://, ws://), with the API token in OQTO_TOKEN or --token-file' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand runner; and __fish_seen_subcommand_from logs" -l token-file -d 'With --relay: read the API token from this file (instead of OQTO_TOKEN)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand runner; and __fish_seen_subcommand_from logs" -l relay-ca -d 'With --relay over https/wss: also trust the CA certificates in this PEM file' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand runner; and __fish_seen_subcommand_from logs" -s f -l follow -d 'Keep printing what is appended'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand runner; and __fish_seen_subcommand_from logs" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand runner; and __fish_seen_subcommand_from logs" -s q -l quiet -d 'Only errors on stderr'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand runner; and __fish_seen_subcommand_from logs" -l no-autostart -d 'Fail (exit 3) instead of starting a runner when none answers'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand runner; and __fish_seen_subcommand_from logs" -s h -l help -d 'Print help'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand runner; and __fish_seen_subcommand_from help" -f -a "start" -d 'Start a runner in the background unless one answers'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand runner; and __fish_seen_subcommand_from help" -f -a "stop" -d 'Stop the runner: every harness is stopped, the sessions stay'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand runner; and __fish_seen_subcommand_from help" -f -a "status" -d 'Whether a runner answers, and what it holds'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand runner; and __fish_seen_subcommand_from help" -f -a "logs" -d 'Print the log of runners oqtoctl started'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand runner; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand doctor" -l socket -d 'Talk to the runner on this socket (default: as the runner resolves it)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand doctor" -l relay -d 'Talk to the runner through the oqto-relay at this URL (https://HOST[:PORT], or http://, wss://, ws://), with the API token in OQTO_TOKEN or --token-file' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand doctor" -l token-file -d 'With --relay: read the API token from this file (instead of OQTO_TOKEN)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand doctor" -l relay-ca -d 'With --relay over https/wss: also trust the CA certificates in this PEM file' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand doctor" -l json -d 'Print JSON'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand doctor" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand doctor" -s q -l quiet -d 'Only errors on stderr'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand doctor" -l no-autostart -d 'Fail (exit 3) instead of starting a runner when none answers'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand doctor" -s h -l help -d 'Print help'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand shell" -l cwd -d 'Open it in this directory, under the default sandbox policy (default: the current one)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand shell" -l attach -d 'Attach to this running terminal instead of opening one (see `oqtoctl terminals`)' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand shell" -l socket -d 'Talk to the runner on this socket (default: as the runner resolves it)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand shell" -l relay -d 'Talk to the runner through the oqto-relay at this URL (https://HOST[:PORT], or http://, wss://, ws://), with the API token in OQTO_TOKEN or --token-file' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand shell" -l token-file -d 'With --relay: read the API token from this file (instead of OQTO_TOKEN)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand shell" -l relay-ca -d 'With --relay over https/wss: also trust the CA certificates in this PEM file' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand shell" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand shell" -s q -l quiet -d 'Only errors on stderr'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand shell" -l no-autostart -d 'Fail (exit 3) instead of starting a runner when none answers'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand shell" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand terminals" -l socket -d 'Talk to the runner on this socket (default: as the runner resolves it)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand terminals" -l relay -d 'Talk to the runner through the oqto-relay at this URL (https://HOST[:PORT], or http://, wss://, ws://), with the API token in OQTO_TOKEN or --token-file' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand terminals" -l token-file -d 'With --relay: read the API token from this file (instead of OQTO_TOKEN)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand terminals" -l relay-ca -d 'With --relay over https/wss: also trust the CA certificates in this PEM file' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand terminals" -l json -d 'Print JSON'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand terminals" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand terminals" -s q -l quiet -d 'Only errors on stderr'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand terminals" -l no-autostart -d 'Fail (exit 3) instead of starting a runner when none answers'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand terminals" -s h -l help -d 'Print help'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand completions" -l socket -d 'Talk to the runner on this socket (default: as the runner resolves it)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand completions" -l relay -d 'Talk to the runner through the oqto-relay at this URL (https://HOST[:PORT], or http://, wss://, ws://), with the API token in OQTO_TOKEN or --token-file' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand completions" -l token-file -d 'With --relay: read the API token from this file (instead of OQTO_TOKEN)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand completions" -l relay-ca -d 'With --relay over https/wss: also trust the CA certificates in this PEM file' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand completions" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand completions" -s q -l quiet -d 'Only errors on stderr'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand completions" -l no-autostart -d 'Fail (exit 3) instead of starting a runner when none answers'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand completions" -s h -l help -d 'Print help'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand web" -l socket -d 'Talk to the runner on this socket (default: as the runner resolves it)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand web" -l relay -d 'Talk to the runner through the oqto-relay at this URL (https://HOST[:PORT], or http://, wss://, ws://), with the API token in OQTO_TOKEN or --token-file' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand web" -l token-file -d 'With --relay: read the API token from this file (instead of OQTO_TOKEN)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand web" -l relay-ca -d 'With --relay over https/wss: also trust the CA certificates in this PEM file' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand web" -l open -d 'Also open the link in a browser (xdg-open)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand web" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand web" -s q -l quiet -d 'Only errors on stderr'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand web" -l no-autostart -d 'Fail (exit 3) instead of starting a runner when none answers'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand web" -s h -l help -d 'Print help'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand token; and not __fish_seen_subcommand_from create list revoke help" -l socket -d 'Talk to the runner on this socket (default: as the runner resolves it)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand token; and not __fish_seen_subcommand_from create list revoke help" -l relay -d 'Talk to the runner through the oqto-relay at this URL (https://HOST[:PORT], or http://, wss://, ws://), with the API token in OQTO_TOKEN or --token-file' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand token; and not __fish_seen_subcommand_from create list revoke help" -l token-file -d 'With --relay: read the API token from this file (instead of OQTO_TOKEN)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand token; and not __fish_seen_subcommand_from create list revoke help" -l relay-ca -d 'With --relay over https/wss: also trust the CA certificates in this PEM file' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand token; and not __fish_seen_subcommand_from create list revoke help" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand token; and not __fish_seen_subcommand_from create list revoke help" -s q -l quiet -d 'Only errors on stderr'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand token; and not __fish_seen_subcommand_from create list revoke help" -l no-autostart -d 'Fail (exit 3) instead of starting a runner when none answers'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand token; and not __fish_seen_subcommand_from create list revoke help" -s h -l help -d 'Print help'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand token; and not __fish_seen_subcommand_from create list revoke help" -f -a "create" -d 'Create a token and print it once (only its hash is kept)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand token; and not __fish_seen_subcommand_from create list revoke help" -f -a "list" -d 'List tokens: id, name, created, expires, last used (never the tokens)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand token; and not __fish_seen_subcommand_from create list revoke help" -f -a "revoke" -d 'Revoke tokens by id or name'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand token; and not __fish_seen_subcommand_from create list revoke help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand token; and __fish_seen_subcommand_from create" -l name -d 'A name to recognise it by in `list` and to revoke it with' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand token; and __fish_seen_subcommand_from create" -l expires -d 'Make it expire after this long (e.g. `30d`, `12h`); default: never' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand token; and __fish_seen_subcommand_from create" -l socket -d 'Talk to the runner on this socket (default: as the runner resolves it)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand token; and __fish_seen_subcommand_from create" -l relay -d 'Talk to the runner through the oqto-relay at this URL (https://HOST[:PORT], or http://, wss://, ws://), with the API token in OQTO_TOKEN or --token-file' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand token; and __fish_seen_subcommand_from create" -l token-file -d 'With --relay: read the API token from this file (instead of OQTO_TOKEN)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand token; and __fish_seen_subcommand_from create" -l relay-ca -d 'With --relay over https/wss: also trust the CA certificates in this PEM file' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand token; and __fish_seen_subcommand_from create" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand token; and __fish_seen_subcommand_from create" -s q -l quiet -d 'Only errors on stderr'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand token; and __fish_seen_subcommand_from create" -l no-autostart -d 'Fail (exit 3) instead of starting a runner when none answers'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand token; and __fish_seen_subcommand_from create" -s h -l help -d 'Print help'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand token; and __fish_seen_subcommand_from list" -l socket -d 'Talk to the runner on this socket (default: as the runner resolves it)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand token; and __fish_seen_subcommand_from list" -l relay -d 'Talk to the runner through the oqto-relay at this URL (https://HOST[:PORT], or http://, wss://, ws://), with the API token in OQTO_TOKEN or --token-file' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand token; and __fish_seen_subcommand_from list" -l token-file -d 'With --relay: read the API token from this file (instead of OQTO_TOKEN)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand token; and __fish_seen_subcommand_from list" -l relay-ca -d 'With --relay over https/wss: also trust the CA certificates in this PEM file' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand token; and __fish_seen_subcommand_from list" -l json -d 'One JSON object per line'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand token; and __fish_seen_subcommand_from list" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand token; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Only errors on stderr'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand token; and __fish_seen_subcommand_from list" -l no-autostart -d 'Fail (exit 3) instead of starting a runner when none answers'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand token; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand token; and __fish_seen_subcommand_from revoke" -l socket -d 'Talk to the runner on this socket (default: as the runner resolves it)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand token; and __fish_seen_subcommand_from revoke" -l relay -d 'Talk to the runner through the oqto-relay at this URL (https://HOST[:PORT], or http://, wss://, ws://), with the API token in OQTO_TOKEN or --token-file' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand token; and __fish_seen_subcommand_from revoke" -l token-file -d 'With --relay: read the API token from this file (instead of OQTO_TOKEN)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand token; and __fish_seen_subcommand_from revoke" -l relay-ca -d 'With --relay over https/wss: also trust the CA certificates in this PEM file' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand token; and __fish_seen_subcommand_from revoke" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand token; and __fish_seen_subcommand_from revoke" -s q -l quiet -d 'Only errors on stderr'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand token; and __fish_seen_subcommand_from revoke" -l no-autostart -d 'Fail (exit 3) instead of starting a runner when none answers'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand token; and __fish_seen_subcommand_from revoke" -s h -l help -d 'Print help'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand token; and __fish_seen_subcommand_from help" -f -a "create" -d 'Create a token and print it once (only its hash is kept)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand token; and __fish_seen_subcommand_from help" -f -a "list" -d 'List tokens: id, name, created, expires, last used (never the tokens)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand token; and __fish_seen_subcommand_from help" -f -a "revoke" -d 'Revoke tokens by id or name'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand token; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand password" -l name -d 'The user whose password to set (default: your account\'s name, local mode\'s one user)' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand password" -l socket -d 'Talk to the runner on this socket (default: as the runner resolves it)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand password" -l relay -d 'Talk to the runner through the oqto-relay at this URL (https://HOST[:PORT], or http://, wss://, ws://), with the API token in OQTO_TOKEN or --token-file' -r
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand password" -l token-file -d 'With --relay: read the API token from this file (instead of OQTO_TOKEN)' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand password" -l relay-ca -d 'With --relay over https/wss: also trust the CA certificates in this PEM file' -r -F
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand password" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand password" -s q -l quiet -d 'Only errors on stderr'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand password" -l no-autostart -d 'Fail (exit 3) instead of starting a runner when none answers'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand password" -s h -l help -d 'Print help'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand help; and not __fish_seen_subcommand_from prompt sessions session attach abort steer follow-up messages history models audit runner doctor shell terminals completions web token password help" -f -a "prompt" -d 'Send a prompt to an agent and follow the turn until it ends'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand help; and not __fish_seen_subcommand_from prompt sessions session attach abort steer follow-up messages history models audit runner doctor shell terminals completions web token password help" -f -a "sessions" -d 'List sessions, newest activity first'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand help; and not __fish_seen_subcommand_from prompt sessions session attach abort steer follow-up messages history models audit runner doctor shell terminals completions web token password help" -f -a "session" -d 'Show, delete, rename or close one session'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand help; and not __fish_seen_subcommand_from prompt sessions session attach abort steer follow-up messages history models audit runner doctor shell terminals completions web token password help" -f -a "attach" -d 'Follow a session\'s events live (reconnecting across runner restarts)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand help; and not __fish_seen_subcommand_from prompt sessions session attach abort steer follow-up messages history models audit runner doctor shell terminals completions web token password help" -f -a "abort" -d 'Stop the session\'s running turn'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand help; and not __fish_seen_subcommand_from prompt sessions session attach abort steer follow-up messages history models audit runner doctor shell terminals completions web token password help" -f -a "steer" -d 'Redirect the running turn: delivered after the current tool calls finish'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand help; and not __fish_seen_subcommand_from prompt sessions session attach abort steer follow-up messages history models audit runner doctor shell terminals completions web token password help" -f -a "follow-up" -d 'Queue a message for when the agent would otherwise stop'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand help; and not __fish_seen_subcommand_from prompt sessions session attach abort steer follow-up messages history models audit runner doctor shell terminals completions web token password help" -f -a "messages" -d 'Print a session\'s stored messages'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand help; and not __fish_seen_subcommand_from prompt sessions session attach abort steer follow-up messages history models audit runner doctor shell terminals completions web token password help" -f -a "history" -d 'Search and import the conversation history'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand help; and not __fish_seen_subcommand_from prompt sessions session attach abort steer follow-up messages history models audit runner doctor shell terminals completions web token password help" -f -a "models" -d 'List the models a harness can use'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand help; and not __fish_seen_subcommand_from prompt sessions session attach abort steer follow-up messages history models audit runner doctor shell terminals completions web token password help" -f -a "audit" -d 'The audit log: permissions asked and who answered them, tool calls started and ended'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand help; and not __fish_seen_subcommand_from prompt sessions session attach abort steer follow-up messages history models audit runner doctor shell terminals completions web token password help" -f -a "runner" -d 'Start, stop and inspect the runner'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand help; and not __fish_seen_subcommand_from prompt sessions session attach abort steer follow-up messages history models audit runner doctor shell terminals completions web token password help" -f -a "doctor" -d 'Check the set-up: pi, bubblewrap, the socket, the runner, the model'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand help; and not __fish_seen_subcommand_from prompt sessions session attach abort steer follow-up messages history models audit runner doctor shell terminals completions web token password help" -f -a "shell" -d 'Open a shell on a terminal the runner owns (sandboxed like the agent), or attach to one'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand help; and not __fish_seen_subcommand_from prompt sessions session attach abort steer follow-up messages history models audit runner doctor shell terminals completions web token password help" -f -a "terminals" -d 'List the runner\'s terminals'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand help; and not __fish_seen_subcommand_from prompt sessions session attach abort steer follow-up messages history models audit runner doctor shell terminals completions web token password help" -f -a "completions" -d 'Print a shell completion script to stdout'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand help; and not __fish_seen_subcommand_from prompt sessions session attach abort steer follow-up messages history models audit runner doctor shell terminals completions web token password help" -f -a "web" -d 'Print a one-time login link for the web UI (starting oqto-relay if none runs)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand help; and not __fish_seen_subcommand_from prompt sessions session attach abort steer follow-up messages history models audit runner doctor shell terminals completions web token password help" -f -a "token" -d 'Create, list and revoke API tokens for the relay'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand help; and not __fish_seen_subcommand_from prompt sessions session attach abort steer follow-up messages history models audit runner doctor shell terminals completions web token password help" -f -a "password" -d 'Set the password of the relay\'s login page (read twice from the terminal, or one line of stdin)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand help; and not __fish_seen_subcommand_from prompt sessions session attach abort steer follow-up messages history models audit runner doctor shell terminals completions web token password help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand help; and __fish_seen_subcommand_from session" -f -a "show" -d 'Everything the runner knows of a session'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand help; and __fish_seen_subcommand_from session" -f -a "rm" -d 'Delete sessions with their history (their harnesses are stopped)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand help; and __fish_seen_subcommand_from session" -f -a "rename" -d 'Give a session a new title'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand help; and __fish_seen_subcommand_from session" -f -a "close" -d 'Stop a session\'s harness; the session and its history stay'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand help; and __fish_seen_subcommand_from history" -f -a "search" -d 'Full-text search over every stored message of every session'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand help; and __fish_seen_subcommand_from history" -f -a "import" -d 'Import conversations a harness kept on its own (read-only for them)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand help; and __fish_seen_subcommand_from runner" -f -a "start" -d 'Start a runner in the background unless one answers'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand help; and __fish_seen_subcommand_from runner" -f -a "stop" -d 'Stop the runner: every harness is stopped, the sessions stay'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand help; and __fish_seen_subcommand_from runner" -f -a "status" -d 'Whether a runner answers, and what it holds'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand help; and __fish_seen_subcommand_from runner" -f -a "logs" -d 'Print the log of runners oqtoctl started'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand help; and __fish_seen_subcommand_from token" -f -a "create" -d 'Create a token and print it once (only its hash is kept)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand help; and __fish_seen_subcommand_from token" -f -a "list" -d 'List tokens: id, name, created, expires, last used (never the tokens)'
complete -c oqtoctl -n "__fish_oqtoctl_using_subcommand help; and __fish_seen_subcommand_from token" -f -a "revoke" -d 'Revoke tokens by id or name'
