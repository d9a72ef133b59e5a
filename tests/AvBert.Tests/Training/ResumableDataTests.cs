using AvBert.Training;

namespace AvBert.Tests.Training;

public class ResumableDataTests
{
    // 3 batches per epoch; a batch is (epoch, index).
    static IEnumerable<(int, int)> Epoch(int e, int skip) => Enumerable.Range(skip, 3 - skip).Select(i => (e, i));

    [Fact]
    public void Epoch_data_reopened_at_its_position_continues_where_it_stopped()
    {
        var uninterrupted = new EpochData<(int, int)>(Epoch).Open(null).Take(8).ToList();
        var a = new EpochData<(int, int)>(Epoch);
        var first = a.Open(null).Take(4).ToList();
        Assert.Equal("1:1", a.Position);
        var b = new EpochData<(int, int)>(Epoch);
        var rest = b.Open(a.Position).Take(4).ToList();
        Assert.Equal(uninterrupted, first.Concat(rest).ToList());
        Assert.Equal("2:2", b.Position);
    }

    [Fact]
    public void Empty_data_ends_instead_of_spinning()
    {
        Assert.Empty(new EpochData<int>((_, _) => []).Open(null));
    }
}
