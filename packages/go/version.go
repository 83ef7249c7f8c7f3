package cqc

// Version is this module's version. Go consumers get versions from the module's tags
// (packages/go/vX.Y.Z); this constant matches the tag it is released under (checked by the release
// workflow) and is bumped with `nox -s release -- go <major|minor|patch>`.
const Version = "1.0.0"
