using AvBert.Media;

namespace AvBert.Tests.Media;

/// <summary>Children are bounded in time and always reaped: on timeouts, on cancellation, on hung inputs.</summary>
public class FfmpegProcessTests
{
    static bool Gone(int pid) => !Directory.Exists($"/proc/{pid}"); // a zombie would still be listed

    [Fact]
    public void A_hung_child_is_killed_at_the_timeout_reported_as_a_media_error_and_reaped()
    {
        var e = Assert.Throws<MediaError>(() => FfmpegProcess.Run("sleep", ["60"], "/d/slow.mp4", TimeSpan.FromSeconds(1), default));
        Assert.Equal("/d/slow.mp4", e.Path);
        Assert.Contains("no result within 1 s", e.Reason);
        Assert.True(Gone(FfmpegProcess.LastStartedPid));
    }

    [Fact]
    public void Ffmpeg_blocked_on_an_input_that_never_comes_is_killed_and_reaped()
    {
        var dir = TestSetup.TempDir("fifo");
        var fifo = Path.Combine(dir, "never.mp4");
        TestMediaRun("mkfifo", fifo);
        try
        {
            var args = VideoDecoder.Arguments(MediaProbe.FfmpegInput(fifo), 0, 4, 15, 8, 8);
            var e = Assert.Throws<MediaError>(() => FfmpegProcess.Run(MediaOptions.Ffmpeg, args, fifo, TimeSpan.FromSeconds(1.5), default, new byte[768]));
            Assert.Contains("hung", e.Reason);
            Assert.True(Gone(FfmpegProcess.LastStartedPid));
            // The public API never even opens a FIFO: it has no length, so it is refused up front.
            Assert.Throws<MediaError>(() => MediaProbe.Probe(fifo));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Cancellation_kills_the_child_and_throws_operation_cancelled()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        Assert.ThrowsAny<OperationCanceledException>(() => FfmpegProcess.Run("sleep", ["60"], "/d/x.mp4", TimeSpan.FromSeconds(30), cts.Token));
        Assert.True(Gone(FfmpegProcess.LastStartedPid));
    }

    [Fact]
    public void A_missing_ffmpeg_program_is_a_user_error_not_a_per_file_skip()
    {
        var e = Assert.Throws<FfmpegMissingError>(() => FfmpegProcess.Run("/nonexistent/ffmpeg", ["-version"], "/d/x.mp4", TimeSpan.FromSeconds(5), default));
        Assert.Contains("install FFmpeg", e.Message);
        Assert.IsNotType<MediaError>(e);
    }

    [Fact]
    public void Large_stderr_and_stdout_do_not_deadlock()
    {
        // 4 MB on stdout and a lot on stderr at once: both pipes must be drained concurrently.
        var r = FfmpegProcess.Run("bash", ["-c", "for i in $(seq 2000); do echo 'some error text on stderr that is long enough' >&2; done; head -c 4000000 /dev/zero"],
                                  "/d/x", TimeSpan.FromSeconds(30), default);
        Assert.Equal(4_000_000, r.Length);
        Assert.Equal(0, r.ExitCode);
        Assert.StartsWith("some error text", r.Error);
    }

    static void TestMediaRun(string program, string arg)
    {
        using var p = System.Diagnostics.Process.Start(program, [arg]);
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
    }

    [Fact]
    public void Children_run_under_an_address_space_limit()
    {
        var r = FfmpegProcess.Run("cat", ["/proc/self/limits"], "/d/x", TimeSpan.FromSeconds(10), default, addressSpaceLimit: 3L << 30);
        var line = System.Text.Encoding.ASCII.GetString(r.Output, 0, r.Length).Split('\n').Single(l => l.StartsWith("Max address space"));
        Assert.Contains((3L << 30).ToString(), line);
        var byDefault = FfmpegProcess.Run("cat", ["/proc/self/limits"], "/d/x", TimeSpan.FromSeconds(10), default);
        Assert.Contains(MediaOptions.ChildMemoryLimitBytes.ToString(), System.Text.Encoding.ASCII.GetString(byDefault.Output, 0, byDefault.Length));
        // A decoder that needs more than its limit fails as that file's error, and the machine is untouched.
        var starved = FfmpegProcess.Run(MediaOptions.Ffmpeg, ["-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x64", "-frames:v", "1", "-f", "null", "-"],
                                        "/d/x", TimeSpan.FromSeconds(30), default, addressSpaceLimit: 64L << 20);
        Assert.NotEqual(0, starved.ExitCode);
    }

    [Fact]
    public void A_growing_output_buffer_is_bounded_and_a_timeout_is_transient()
    {
        var e = Assert.Throws<MediaError>(() => FfmpegProcess.Run("head", ["-c", "1000000", "/dev/zero"], "/d/x", TimeSpan.FromSeconds(10), default, maxBytes: 1 << 16));
        Assert.Contains("more than", e.Reason);
        Assert.False(e.Transient);
        var slow = Assert.Throws<MediaError>(() => FfmpegProcess.Run("sleep", ["60"], "/d/slow.mp4", TimeSpan.FromSeconds(1), default));
        Assert.True(slow.Transient);   // retried by the loader, not a permanent skip
    }
}
