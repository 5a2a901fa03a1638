complete -c oqto-relay -s h -l help -d 'Print help (see more with \'--help\')'
complete -c oqto-relay -s V -l version -d 'Print version'
