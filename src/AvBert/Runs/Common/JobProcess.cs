using AvBert.Distributed;
using AvBert.Runtime;
using static TorchSharp.torch;

namespace AvBert.Runs;

/// <summary>
/// The process a job runs in: alone, or one rank of a data-parallel job under mpirun/srun (docs/scaling-out.md).
/// The CLI runs every command inside <see cref="Run"/> and resolves --device with <see cref="Device"/>.
/// </summary>
public static class JobProcess
{
    /// <summary>Joins the data-parallel job the environment describes (if any; ranks other than 0 print only their error
    /// lines), runs <paramref name="command"/> and leaves the job; a failure of the job itself (<see cref="DistributedError"/>)
    /// is one line and its exit code.</summary>
    public static int Run(Func<int> command)
    {
        int rc = ExitCodes.Internal;
        try
        {
            if (DataParallel.StartFromEnvironment() is { Rank: > 0 }) Console.SetOut(TextWriter.Null);
            return rc = command();
        }
        catch (DistributedError e)
        {
            Console.Error.WriteLine($"{DataParallel.RankPrefix}error: {e.Message}");
            return rc = e.ExitCode;
        }
        finally { DataParallel.Finish(rc == ExitCodes.Ok); }
    }

    /// <summary>"rank N: " in a data-parallel job (before each error line), else "".</summary>
    public static string RankPrefix => DataParallel.RankPrefix;

    /// <summary>The device of --device <paramref name="name"/> (cpu, cuda, cuda:N or auto); in a data-parallel job, this
    /// rank's GPU (from its local rank) or its share of the CPU cores.</summary>
    public static Device Device(string name)
    {
        var device = TorchRuntime.ResolveDevice(name);
        return DataParallel.Current?.PlaceOn(device, explicitIndex: name.Contains(':')) ?? device;
    }
}
