complete --keep-order --exclusive --command tcptune --arguments "(COMPLETE=fish tcptune -- (commandline --current-process --tokenize --cut-at-cursor) (commandline --current-token))"
