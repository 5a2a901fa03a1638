complete -c oqto-sandbox -s h -l help -d 'Print help (see more with \'--help\')'
complete -c oqto-sandbox -s V -l version -d 'Print version'
