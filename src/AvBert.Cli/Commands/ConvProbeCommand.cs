using AvBert.Runtime;
using System.CommandLine;

namespace AvBert.Cli.Commands;

/// <summary>`avbert __conv-probe SHAPES THREADS` (hidden): the child process of the CPU convolution self-check
/// (<see cref="ConvolutionProbe"/>); it may die of a signal, which is what it is there for.</summary>
public static class ConvProbeCommand
{
    public static Command Build()
    {
        var shapes = new Argument<string>("shapes") { Description = "JSON file of the shape classes to check" };
        var threads = new Argument<int>("threads") { Description = "torch threads" };
        var c = new Command(ConvolutionProbe.Command, "Internal: checks convolution shape classes for the self-check's parent process") { Hidden = true };
        c.Arguments.Add(shapes);
        c.Arguments.Add(threads);
        c.SetAction(r => ConvolutionProbe.RunChild(r.GetValue(shapes)!, r.GetValue(threads), Console.Out));
        return c;
    }
}
