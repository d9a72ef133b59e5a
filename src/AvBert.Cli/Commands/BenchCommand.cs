using System.CommandLine;

namespace AvBert.Cli.Commands;

/// <summary>`avbert bench &lt;what&gt;`: measurements users run on their own machine before a long run.</summary>
public static class BenchCommand
{
    public static Command Build()
    {
        var c = new Command("bench", "Measure this machine: what it delivers for a training step or a data source");
        foreach (var sub in new Command[]
        {
            // one line per measurement; each lives in its own Bench*Command.cs
            BenchStepCommand.Build(),
            BenchAllReduceCommand.Build(),
            BenchLoaderCommand.Build(),
            BenchProbeCommand.Build(),
            BenchOnnxCommand.Build(),
        })
            c.Subcommands.Add(sub);
        return c;
    }
}
