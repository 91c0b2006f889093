module github.com/lettadev/wsproxy

go 1.26
