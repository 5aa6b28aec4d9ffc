module github.com/streamgate/streamgate/integration

go 1.26.0

// Whole-system tests run against the code in this repository.
replace (
	github.com/streamgate/streamgate => ../
	github.com/streamgate/streamgate/gen/go => ../gen/go
)
