using System.Runtime.InteropServices;
using AvBert.Training;

namespace AvBert.Tests.Training;

public class NativeErrorRetryTests
{
    [Fact]
    public void A_native_error_mid_run_resumes_from_the_checkpoint_and_finishes()
    {
        var calls = new List<bool>();
        var log = new StringWriter();
        var result = NativeErrorRetry.Run((resume, onStep) =>
        {
            calls.Add(resume);
            if (calls.Count == 1)
            {
                for (long s = 1; s <= 7; s++) onStep(s);
                throw new ExternalException("Expected false to be true, but got false.\nException raised from toFloat");
            }
            for (long s = 6; s <= 10; s++) onStep(s);   // resumed from a checkpoint at step 5
            return "done";
        }, resume: false, retries: 3, log, "pretrain");
        Assert.Equal("done", result);
        Assert.Equal([false, true], calls);
        Assert.Contains("libtorch error after step 7: Expected false to be true, but got false.", log.ToString());
        Assert.Contains("retry 1 of 3", log.ToString());
    }

    [Fact]
    public void The_same_failure_at_the_same_step_is_final()
    {
        int calls = 0;
        Assert.Throws<ExternalException>(() => NativeErrorRetry.Run<int>((_, onStep) =>
        {
            calls++;
            onStep(4);
            throw new ExternalException("Expected false to be true, but got false.");
        }, resume: true, retries: 5, TextWriter.Null));
        Assert.Equal(2, calls);
    }

    [Fact]
    public void A_non_finite_step_is_retried_from_the_checkpoint_once_and_final_when_it_comes_back_at_the_same_step()
    {
        // Transient (a garbage scalar from the race): the retry from the checkpoint runs clean.
        var calls = new List<bool>();
        var log = new StringWriter();
        var result = NativeErrorRetry.Run((resume, onStep) =>
        {
            calls.Add(resume);
            for (long s = resume ? 6 : 1; s <= (resume ? 10 : 7); s++) onStep(s);
            if (calls.Count == 1) throw new TrainingDiverged("training diverged at step 8: 'loss' is NaN.") { Step = 8, Part = "loss" };
            return "done";
        }, resume: false, retries: 3, log, "pretrain");
        Assert.Equal("done", result);
        Assert.Equal([false, true], calls);
        Assert.Contains("pretrain: training diverged at step 8: 'loss' is NaN.", log.ToString());
        Assert.Contains("retry 1 of 3", log.ToString());

        // A real divergence: the same step again, then the error with its exit code.
        int attempts = 0;
        var e = Assert.Throws<TrainingDiverged>(() => NativeErrorRetry.Run<int>((_, onStep) =>
        {
            attempts++;
            onStep(7);
            throw new TrainingDiverged("training diverged at step 8: 'loss' is NaN.") { Step = 8 };
        }, resume: true, retries: 3, TextWriter.Null));
        Assert.Equal(2, attempts);
        Assert.Equal(AvBert.Runtime.ExitCodes.Diverged, e.ExitCode);
    }

    [Fact]
    public void Running_out_of_memory_is_not_retried()
    {
        int calls = 0;
        Assert.Throws<ExternalException>(() => NativeErrorRetry.Run<int>((_, onStep) =>
        {
            onStep(++calls);
            throw new ExternalException("[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: can't allocate memory: you tried to allocate 8800000 bytes.");
        }, resume: true, retries: 5, TextWriter.Null));
        Assert.Equal(1, calls);
    }

    [Fact]
    public void Retries_are_bounded_and_other_errors_are_not_retried()
    {
        int calls = 0;
        long step = 0;
        Assert.Throws<ExternalException>(() => NativeErrorRetry.Run<int>((_, onStep) =>
        {
            calls++;
            onStep(++step);   // progress every time: only the bound stops it
            throw new ExternalException("race");
        }, resume: false, retries: 2, TextWriter.Null));
        Assert.Equal(3, calls);

        calls = 0;
        Assert.Throws<InvalidOperationException>(() => NativeErrorRetry.Run<int>((_, _) => { calls++; throw new InvalidOperationException("bug"); },
                                                                                 resume: false, retries: 3, TextWriter.Null));
        Assert.Equal(1, calls);
    }
}
