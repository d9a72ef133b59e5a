using System.Globalization;

namespace AvBert.Distributed;

/// <summary>
/// Where this process sits in a multi-process job, read from the launcher's environment before MPI is loaded:
/// Open MPI's <c>mpirun</c> (OMPI_COMM_WORLD_RANK / _SIZE / _LOCAL_RANK / _LOCAL_SIZE), SLURM's <c>srun</c>
/// (SLURM_PROCID / SLURM_STEP_NUM_TASKS / SLURM_LOCALID: set inside an srun step only, so a batch script that runs
/// ./avbert directly stays a single process), PMIx (PMIX_RANK) and the MPICH-style PMI variables (PMI_RANK / PMI_SIZE).
/// A process started without a launcher (or a job of one process) is rank 0 of 1 and never loads MPI.
/// </summary>
public sealed record WorldLayout(int Rank, int Size, int LocalRank, int LocalSize, string Launcher)
{
    public static readonly WorldLayout Single = new(0, 1, 0, 1, "none");

    public bool IsDistributed => Size > 1;

    /// <summary>Reads the layout from the process environment.</summary>
    public static WorldLayout FromEnvironment() => FromVariables(name => Environment.GetEnvironmentVariable(name));

    /// <summary>Reads the layout from <paramref name="get"/> (a variable's value or null).</summary>
    public static WorldLayout FromVariables(Func<string, string?> get)
    {
        int? Int(params string[] names)
        {
            foreach (var n in names)
                if (get(n) is { Length: > 0 } v)
                {
                    // SLURM_STEP_TASKS_PER_NODE looks like "8(x2),4": the first count is this job's usual per-node count.
                    var digits = new string(v.TakeWhile(char.IsAsciiDigit).ToArray());
                    if (int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out int x)) return x;
                }
            return null;
        }
        string launcher = get("OMPI_COMM_WORLD_SIZE") is not null ? "mpirun"
                        : get("SLURM_PROCID") is not null && get("SLURM_STEP_NUM_TASKS") is not null ? "srun"
                        : get("PMI_SIZE") is not null ? "pmi" : "none";
        int size = Int("OMPI_COMM_WORLD_SIZE", "SLURM_STEP_NUM_TASKS", "PMI_SIZE") ?? 1;
        if (launcher == "none" || size <= 1) return Single with { Launcher = launcher };
        int rank = Int("OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID", "PMI_RANK") ?? 0;
        int localRank = Int("OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "MPI_LOCALRANKID") ?? 0;
        int localSize = Int("OMPI_COMM_WORLD_LOCAL_SIZE", "SLURM_STEP_TASKS_PER_NODE", "MPI_LOCALNRANKS") ?? size;
        return new WorldLayout(rank, size, localRank, Math.Max(1, localSize), launcher);
    }

    public override string ToString() => IsDistributed ? $"rank {Rank} of {Size} (local rank {LocalRank} of {LocalSize}, launched by {Launcher})" : "single process";
}
