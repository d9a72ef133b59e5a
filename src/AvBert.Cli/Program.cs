using AvBert.Cli;
using AvBert.Cli.Commands;
using System.CommandLine;

// The thin CLI: each command lives in Commands/, parses its options and calls the library.
var root = new RootCommand("AVBERT.NET: self-supervised audio-visual video representation learning (Lee et al., ICLR 2021).");
foreach (var command in new[]
{
    InfoCommand.Build(),
    ConfigCommand.Build(),
    ParamsCommand.Build(),
    ConvertCommand.Build(),
    ExportCommand.Build(),
    ForwardCommand.Build(),
    InspectCommand.Build(),
    PretrainCommand.Build(),
    FinetuneCommand.Build(),
    EvalCommand.Build(),
    PredictCommand.Build(),
    ExtractCommand.Build(),
    ProbeCommand.Build(),
    PrepCommand.Build(),
    SynthCommand.Build(),
    DataCommand.Build(),
    DemoCommand.Build(),
    AblateCommand.Build(),
    BenchCommand.Build(),
    ConvProbeCommand.Build(),
})
    root.Subcommands.Add(command);
// `./avbert test` is handled by the ./avbert script itself (it installs FFmpeg and Open MPI and runs `dotnet test`); listed for --help.
root.Subcommands.Add(new Command("test", "Run the whole test suite (installs FFmpeg and Open MPI with apt-get when missing). Handled by ./avbert."));
// One runtime initialisation (the libstdc++ fix, OpenMP and oneDNN settings) before any command that touches tensors;
// these do not, and start without libtorch.
string[] withoutTorch = ["config", "synth", "data", "prep", "test"];
return CliRunner.Run(root, args, command => !withoutTorch.Contains(command.Name));
