complete -c oqto-runner -s h -l help -d 'Print help (see more with \'--help\')'
complete -c oqto-runner -s V -l version -d 'Print version'
