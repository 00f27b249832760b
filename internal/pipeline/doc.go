// Package pipeline owns what gobundle create does between its flags and
// its summary: it reads the inputs, resolves and verifies their full module
// graph through the mirror chain (package resolver), collects the checksum
// database data that proves every hash, writes one bundle (package bundle)
// and trims the download cache, as a sequence of named stages.
//
// The package reads no environment variable and draws nothing: the caller
// (cmd/gobundle) passes every setting in [Options], including a
// [Options.Settings] function for what it reads from the environment and
// the go command, and draws the [Event] values that flow out. Errors of
// bad usage (a flag's value, a combination of flags) are [UsageError].
//
// # Stages
//
// [Run] runs these stages in order; each is a method of the run's state
// that calls a function of plain values, tested on its own:
//
//   - reproduce: with [Options.Reproduce], read the old bundle's storage
//     settings and tree ([openTarget]);
//   - inputs: parse the inputs and the --from lists ([readInputs]);
//   - settings: ask [Options.Settings] for the mirror chain, the checksum
//     database and the cache;
//   - sources: open the mirrors and the checksum database ([openSources]);
//   - bases: open the bundles of [Options.Base] (the new bundle is
//     incremental on them) and [Options.SumDBSince] (only their checksum
//     database trees are proven), linked among each other ([job.openBases]);
//   - writer: open the bundle writer, which compresses while the resolver
//     works ([newWriter]; not on a dry run);
//   - resolve: walk, fetch and verify the graph, handing each module to
//     the writer as it is verified ([resolveGraph]);
//   - sumdb: collect the checksum database records, tiles and base proofs
//     the bundle stores ([collectSumDB]);
//   - write: add every module version, the properties and the extras, and
//     write the file ([writeBundle]);
//   - trim: with [Options.CacheMax], trim the download cache;
//   - compare: with [Options.Reproduce], compare the rebuild with the old
//     bundle.
//
// Stages that do not apply (the writer on a dry run, say) return at once.
// Resources a stage opens are closed when [Run] returns, in reverse order.
//
// # Adding a stage
//
// A feature that adds work to create gets its own stage in its own file:
//
//  1. a function of plain values with a context.Context that does the
//     work (and its test, against the test kit's fake upstream);
//  2. a method of [job] that calls it with the fields earlier stages
//     filled and stores what later stages need in new fields of [job];
//  3. one line in [job.stages] at its place in the order, and the
//     fields it needs in [Options] (with their meaning there).
//
// Plug points for the common cases: more inputs go into job.inputs before
// the resolve stage; bundle metadata goes into job.props and extra blobs
// (a vulnerability database, say) into job.extras before the write stage,
// which adds them after the module versions; work on the written file
// is a stage after write that reads Options.Output. Signing (create
// --sign) needs no stage: the writer signs as it writes
// (Options.Bundle.Signers), so the file is never in place unsigned and is
// written once. Progress
// goes out through job.emit as [Event] values with a new Stage name, which
// cmd/gobundle draws; warnings are events of Stage "warning".
package pipeline
