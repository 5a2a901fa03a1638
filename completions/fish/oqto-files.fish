complete -c oqto-files -s h -l help -d 'Print help (see more with \'--help\')'
complete -c oqto-files -s V -l version -d 'Print version'
