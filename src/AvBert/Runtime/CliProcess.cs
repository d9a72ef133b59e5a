using System.Diagnostics;
using System.Reflection;

namespace AvBert.Runtime;

/// <summary>
/// The CLI started again as a child of itself: the crash supervisor's worker (one command in a process that may die of a
/// native signal) and the convolution check's probes (one rung of the ladder each).
/// </summary>
public static class CliProcess
{
    /// <summary>The program and leading arguments that start the CLI (null: none found; then nothing can run as a child).
    /// Found from the running process: the CLI itself (a dll under `dotnet`, or a single-file build); otherwise
    /// AvBert.Cli.dll beside this library, or AVBERT_CLI_DLL. Tests set it to the built CLI.</summary>
    public static (string FileName, string[] Arguments)? Host { get; set; } = FindHost();

    /// <summary>The launcher variables of an mpirun/srun job (a rank's identity).</summary>
    static readonly string[] LauncherPrefixes = ["OMPI_", "PMIX_", "PMI_", "SLURM_", "MPI_LOCAL"];

    /// <summary>This process is a rank of an mpirun/srun job.</summary>
    public static bool UnderLauncher =>
        new[] { "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID", "MPI_LOCALNRANKS" }.Any(v => Environment.GetEnvironmentVariable(v) is { Length: > 0 });

    /// <summary>How to start the CLI with <paramref name="args"/> (after the host's own leading arguments).</summary>
    /// <param name="redirect">read the child's stdout and stderr (else they are this process's)</param>
    /// <param name="leaveJob">drop the launcher variables: the child is no rank of the job its parent may belong to</param>
    public static ProcessStartInfo StartInfo(IEnumerable<string> args, bool redirect, bool leaveJob)
    {
        var (file, lead) = Host ?? throw new InvalidOperationException("the CLI cannot be started again (no host found)");
        var psi = new ProcessStartInfo(file) { UseShellExecute = false, RedirectStandardOutput = redirect, RedirectStandardError = redirect };
        foreach (var a in lead.Concat(args)) psi.ArgumentList.Add(a);
        if (leaveJob)
            foreach (var k in psi.Environment.Keys.Where(k => LauncherPrefixes.Any(p => k.StartsWith(p, StringComparison.Ordinal))).ToList())
                psi.Environment.Remove(k);
        return psi;
    }

    static (string, string[])? FindHost()
    {
        var process = Environment.ProcessPath;
        var entry = Assembly.GetEntryAssembly();
        bool underDotnet = process is not null && Path.GetFileNameWithoutExtension(process) == "dotnet";
        if (entry?.GetName().Name == "AvBert.Cli")
        {
            if (!string.IsNullOrEmpty(entry.Location) && underDotnet) return (process!, [entry.Location]);
            if (process is not null && !underDotnet) return (process, []); // single-file / apphost
        }
        var dll = Environment.GetEnvironmentVariable("AVBERT_CLI_DLL") is { Length: > 0 } env ? env : Path.Combine(AppContext.BaseDirectory, "AvBert.Cli.dll");
        if (File.Exists(dll)) return (underDotnet ? process! : "dotnet", [dll]);
        return null;
    }
}
