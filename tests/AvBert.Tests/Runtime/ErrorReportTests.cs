using System.Runtime.InteropServices;
using AvBert.Config;
using AvBert.Runtime;
using AvBert.Training;

namespace AvBert.Tests.Runtime;

public class ErrorReportTests
{
    static string NoLog(Exception _) => throw new InvalidOperationException("an internal error must not reach here");

    [Fact]
    public void Every_failure_a_user_can_cause_is_one_line_with_its_code_from_the_table()
    {
        (int, string) D(Exception e) => ErrorReport.Describe(e, NoLog);
        Assert.Equal(ExitCodes.UserError, D(new ConfigError("c.yaml: bad")).Item1);
        Assert.Equal(ExitCodes.Diverged, D(new TrainingDiverged("training diverged at step 8")).Item1);
        var full = D(new IOException("No space left on device : '/data/run/model.safetensors'", 28));
        Assert.Equal(ExitCodes.OutOfResources, full.Item1);
        Assert.Contains("/data/run/model.safetensors", full.Item2);
        var oom = D(new ExternalException("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: not enough memory: you tried to allocate 9663676416 bytes.\nException raised from ..."));
        Assert.Equal(ExitCodes.OutOfResources, oom.Item1);
        Assert.Contains("--preset small", oom.Item2);
        Assert.Equal(ExitCodes.OutOfResources, D(new OutOfMemoryException()).Item1);
        Assert.Equal(ExitCodes.UserError, D(new UnauthorizedAccessException("Access to the path '/root/x' is denied.")).Item1);
        Assert.Equal(ExitCodes.UserError, D(new IOException("The file '/tmp/out' already exists.")).Item1);
        Assert.Equal(ExitCodes.UserError, D(new IOException("Too many levels of symbolic links : '/d/loop'", 40)).Item1);
        Assert.Equal(ExitCodes.Interrupted, D(new OperationCanceledException()).Item1);
        Assert.Equal(ExitCodes.UserError, D(new AggregateException(new ConfigError("wrapped"))).Item1);
        foreach (var e in new Exception[] { new ConfigError("a\nb"), new IOException("x\ny"), new ExternalException("can't allocate memory\nat frame 1\nat frame 2") })
            Assert.DoesNotContain('\n', D(e).Item2);
    }

    [Fact]
    public void An_internal_error_is_one_line_naming_a_log_that_holds_the_stack_trace()
    {
        Exception thrown;
        try { throw new KeyNotFoundException("key 'x' missing"); }
        catch (Exception e) { thrown = e; }
        var dir = TestSetup.TempDir("errlog");
        string? written = null;
        var (code, line) = ErrorReport.Describe(thrown, e => { written = Path.Combine(dir, "err.log"); File.WriteAllText(written, e.ToString()); return written; });
        Assert.Equal(ExitCodes.Internal, code);
        Assert.Equal($"error: internal error: KeyNotFoundException: key 'x' missing (details: {written})", line);
        Assert.Contains(nameof(An_internal_error_is_one_line_naming_a_log_that_holds_the_stack_trace), File.ReadAllText(written!));
        var log = ErrorReport.WriteLog(thrown);
        try { Assert.Contains("KeyNotFoundException", File.ReadAllText(log)); }
        finally { File.Delete(log); }
    }
}
