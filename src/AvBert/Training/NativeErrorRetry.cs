using System.Runtime.InteropServices;

namespace AvBert.Training;

/// <summary>
/// Runs a resumable training run again from its latest checkpoint when libtorch throws (TorchSharp surfaces native errors
/// as <see cref="ExternalException"/>). Why: TorchSharp 0.107 frees implicitly created Scalars from the finalizer thread
/// without keeping them alive through the native call, so a rare garbage collection at the wrong moment makes one op fail
/// ("Expected false to be true … toFloat"; seen once in 21 GPU demo runs). A long run would die of it; instead it loses
/// only the steps since its last checkpoint. The same race can hand an op a garbage scalar and turn a step's loss or
/// weights non-finite without any error, so a <see cref="TrainingDiverged"/> is retried the same way: a real divergence
/// comes back at the same step and is then final. A failure at the same step as the previous attempt is deterministic (a
/// real error) and is rethrown at once; so is running out of memory, which a retry would only repeat.
/// </summary>
public static class NativeErrorRetry
{
    /// <param name="attempt">Runs the training; its argument says whether to resume from the latest checkpoint (false
    /// only for the first attempt of a fresh run), and it reports each completed optimiser step to the callback it gets.</param>
    /// <param name="resume">Whether the first attempt already resumes.</param>
    /// <param name="retries">How many times to start again after a native error (0 = never).</param>
    /// <param name="log">Where the one line per retry goes.</param>
    public static T Run<T>(Func<bool, Action<long>, T> attempt, bool resume, int retries, TextWriter log, string what = "run")
    {
        long lastStep = -1, failedAt = long.MinValue;
        for (int tries = 0; ; tries++)
        {
            try
            {
                return attempt(resume, step => lastStep = step);
            }
            catch (Exception e) when (tries < retries && lastStep != failedAt &&
                                      (e is ExternalException && !Runtime.ErrorReport.IsOutOfMemory(e) || e is TrainingDiverged))
            {
                failedAt = lastStep;
                var message = e.Message.Split('\n')[0].Trim();
                log.WriteLine(e is TrainingDiverged ? $"{what}: {message}" : $"{what}: libtorch error after step {Math.Max(lastStep, 0)}: {message}");
                log.WriteLine($"{what}: starting again from the latest checkpoint (retry {tries + 1} of {retries}); " +
                              "the steps since that checkpoint are redone");
                resume = true;
                // The failed attempt's tensors (weights, optimiser state, activations; GBs on a GPU) are only freed by
                // their finalizers: run them now, before the next attempt allocates its own.
                GC.Collect();
                GC.WaitForPendingFinalizers();
                GC.Collect();
            }
        }
    }
}
