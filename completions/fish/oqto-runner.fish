complete -c oqto-runner -l socket -d 'Listen on this socket instead of the default (see FILES)' -r -F
complete -c oqto-runner -l data-dir -d 'Keep the history database in this directory' -r -F
complete -c oqto-runner -l config -d 'Read this `runner.toml` instead of the default one (this file must exist)' -r -F
complete -c oqto-runner -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c oqto-runner -s q -l quiet -d 'Only errors on stderr'
complete -c oqto-runner -s h -l help -d 'Print help (see more with \'--help\')'
complete -c oqto-runner -s V -l version -d 'Print version'
