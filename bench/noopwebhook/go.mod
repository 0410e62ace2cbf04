module voxgate.io/bench/noopwebhook

go 1.24
