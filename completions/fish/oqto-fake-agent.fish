complete -c oqto-fake-agent -l delay-ms -d 'Milliseconds between streamed deltas (stream:N@MS overrides it for one reply)' -r
complete -c oqto-fake-agent -l deltas -d 'How many deltas an echoed reply is split into' -r
complete -c oqto-fake-agent -l name -d 'Agent name reported in `ready` (as NAME/VERSION)' -r
complete -c oqto-fake-agent -l acp -d 'Speak the Agent Client Protocol instead (a tiny scripted agent: `crash`, `hang`, `garbage`, `stray`, `ask`; anything else is echoed), for tests of broken ACP agents'
complete -c oqto-fake-agent -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c oqto-fake-agent -s q -l quiet -d 'Only errors on stderr'
complete -c oqto-fake-agent -s h -l help -d 'Print help (see more with \'--help\')'
complete -c oqto-fake-agent -s V -l version -d 'Print version'
