using AvBert.Runtime;
using System.CommandLine;

namespace AvBert.Cli;

/// <summary>Runs the parsed command; user errors become one line on stderr and exit code 2, never a stack trace.</summary>
public static class CliRunner
{
    public static int Run(RootCommand root, string[] args)
    {
        var config = new InvocationConfiguration { EnableDefaultExceptionHandler = false };
        try
        {
            return root.Parse(args).Invoke(config);
        }
        catch (Exception e) when (Unwrap(e) is UserError ue)
        {
            Console.Error.WriteLine($"error: {ue.Message}");
            return 2;
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("cancelled.");
            return 130;
        }
    }

    static Exception Unwrap(Exception e)
    {
        while (e is AggregateException or System.Reflection.TargetInvocationException or TypeInitializationException && e.InnerException is not null)
            e = e.InnerException!;
        return e;
    }
}
