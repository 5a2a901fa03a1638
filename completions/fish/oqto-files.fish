complete -c oqto-files -l root -d 'The directory to serve; no path resolves outside it' -r -F
complete -c oqto-files -l socket -d 'Listen on this Unix socket (its directory is made 0700, the socket 0600)' -r -F
complete -c oqto-files -l allow-uid -d 'Also admit socket clients running as this uid (repeatable); the server\'s own user is always admitted, root only when listed' -r
complete -c oqto-files -l allow-group -d 'Also admit socket clients in this group, primary or supplementary (repeatable)' -r
complete -c oqto-files -l idle-exit -d 'Exit (removing the socket) after this many seconds without any connection; the runner\'s `files.open` starts servers this way' -r
complete -c oqto-files -l max-concurrent -d 'Requests of one connection that run at once; further ones wait' -r
complete -c oqto-files -l max-chunk -d 'Largest raw frame sent or accepted, in bytes' -r
complete -c oqto-files -l max-line -d 'Longest JSON line accepted, in bytes (bounds a `write`\'s content)' -r
complete -c oqto-files -l search-time-ms -d 'Longest a search runs, in milliseconds' -r
complete -c oqto-files -l max-results -d 'Most matches one search returns' -r
complete -c oqto-files -s v -l verbose -d 'More log output on stderr (-v info, -vv debug, -vvv trace)'
complete -c oqto-files -s q -l quiet -d 'Only errors on stderr'
complete -c oqto-files -l stdio -d 'Serve one client on stdin/stdout (the default)'
complete -c oqto-files -l read-only -d 'Refuse every operation that changes the tree'
complete -c oqto-files -l exit-with-parent -d 'Stop (as on SIGTERM) when the process that started this one ends; the runner passes it, so that its file servers do not outlive it even when it is killed'
complete -c oqto-files -s h -l help -d 'Print help (see more with \'--help\')'
complete -c oqto-files -s V -l version -d 'Print version'
