using AvBert.Storage;

namespace AvBert.Tests.Storage;

public class FileGateTests
{
    [Fact]
    public void A_second_holder_waits_saying_why_until_the_first_lets_go()
    {
        var path = Path.Combine(TestSetup.TempDir("file-gate"), "x.lock");
        var first = FileGate.Acquire(path, "unused", TextWriter.Null);
        var log = new StringWriter();
        var second = Task.Run(() => FileGate.Acquire(path, "another job is preparing x", TextWriter.Synchronized(log)));
        Assert.False(second.Wait(1500));                      // shut while the first holds it
        Assert.Contains("waiting: another job is preparing x", log.ToString());
        first.Dispose();
        Assert.True(second.Wait(5000));                       // open once it is let go
        second.Result.Dispose();
    }

    [Fact]
    public void Waiting_stops_when_cancelled()
    {
        var path = Path.Combine(TestSetup.TempDir("file-gate-cancel"), "x.lock");
        using var first = FileGate.Acquire(path, "unused", TextWriter.Null);
        using var cts = new CancellationTokenSource(300);
        Assert.ThrowsAny<OperationCanceledException>(() => FileGate.Acquire(path, "busy", TextWriter.Null, cts.Token));
    }
}
