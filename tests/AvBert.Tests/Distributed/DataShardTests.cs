using AvBert.Data;
using AvBert.Distributed;
using AvBert.Runtime;
using static TorchSharp.torch;

namespace AvBert.Tests.Distributed;

public class DataShardTests
{
    /// <summary>Item i is a one-number sample [i]; the listed indices fail to load.</summary>
    sealed class NumberedItems(int count, params int[] broken) : IClipDataset
    {
        public int Count => count;
        public string PathOf(int index) => $"item{index}.mp4";
        public ClipSequence Load(int index, int seed, int epoch, CancellationToken ct)
        {
            if (broken.Contains(index)) throw new UserError($"item{index}.mp4: broken on purpose");
            return new ClipSequence { Index = index, ItemIndex = index, Path = PathOf(index), Labels = [0], VisualInput = [index], VisualShape = [1], Audio = [index], AudioShape = [1] };
        }
    }

    static List<int[]> Batches(IClipDataset data, int batch, DataShard? shard, int epoch, int skip = 0)
    {
        var loader = new BatchLoader(data, new LoaderOptions { BatchSize = batch, Workers = 2, Seed = 7, Shard = shard }, (Action<string, string>?)null);
        var list = new List<int[]>();
        foreach (var b in loader.Epoch(epoch, skip)) using (b) list.Add(b.Indices);
        return list;
    }

    [Theory]
    [InlineData(2, 2)]
    [InlineData(3, 2)]
    [InlineData(4, 1)]
    public void Ranks_split_every_global_batch_of_one_process_and_see_each_sample_once_per_epoch(int world, int rankBatch)
    {
        var data = new NumberedItems(world * rankBatch * 5);
        for (int epoch = 0; epoch < 2; epoch++)
        {
            var single = Batches(data, world * rankBatch, null, epoch);
            var ranks = Enumerable.Range(0, world).Select(r => Batches(data, rankBatch, new DataShard(r, world), epoch)).ToList();
            Assert.All(ranks, r => Assert.Equal(single.Count, r.Count));
            for (int b = 0; b < single.Count; b++)
                Assert.Equal(single[b], ranks.SelectMany(r => r[b]).ToArray()); // rank order inside the global batch
            var seen = ranks.SelectMany(r => r.SelectMany(x => x)).Order().ToArray();
            Assert.Equal(Enumerable.Range(0, data.Count).ToArray(), seen);
        }
    }

    [Fact]
    public void A_failed_file_is_replaced_from_the_ranks_own_samples_and_every_rank_makes_the_same_number_of_batches()
    {
        var data = new NumberedItems(13, 3, 8);   // 13 = 3 full global batches of 4 + 1 left over
        var shards = new[] { new DataShard(0, 2), new DataShard(1, 2) };
        var ranks = shards.Select(s => Batches(data, 2, s, epoch: 0)).ToList();
        Assert.All(ranks, r => Assert.Equal(3, r.Count));
        Assert.All(ranks, r => Assert.All(r, b => Assert.Equal(2, b.Length)));
        var seen = ranks.SelectMany(r => r.SelectMany(x => x)).ToArray();
        Assert.DoesNotContain(3, seen);
        Assert.DoesNotContain(8, seen);
        // Deterministic: the same batches again, and a resumed epoch continues with them.
        Assert.Equal(ranks[1], Batches(data, 2, shards[1], epoch: 0));
        Assert.Equal(ranks[1].Skip(1), Batches(data, 2, shards[1], epoch: 0, skip: 1));
    }

    [Fact]
    public void Resuming_at_a_global_batch_means_the_same_data_whatever_the_world_size()
    {
        var data = new NumberedItems(16);
        var single = Batches(data, 4, null, epoch: 1, skip: 2);
        var two = new[] { 0, 1 }.Select(r => Batches(data, 2, new DataShard(r, 2), epoch: 1, skip: 2)).ToList();
        Assert.Equal(single.Select(b => b.Order()), two[0].Zip(two[1], (a, b) => a.Concat(b).Order()));
    }

    [Fact]
    public void Launcher_variables_give_the_rank_and_world_and_no_launcher_means_a_single_process()
    {
        WorldLayout From(params (string, string)[] vars) => WorldLayout.FromVariables(n => vars.FirstOrDefault(v => v.Item1 == n).Item2);
        Assert.Equal(new WorldLayout(3, 8, 1, 4, "mpirun"), From(("OMPI_COMM_WORLD_RANK", "3"), ("OMPI_COMM_WORLD_SIZE", "8"),
                                                                ("OMPI_COMM_WORLD_LOCAL_RANK", "1"), ("OMPI_COMM_WORLD_LOCAL_SIZE", "4")));
        Assert.Equal(new WorldLayout(5, 16, 1, 8, "srun"), From(("SLURM_PROCID", "5"), ("SLURM_STEP_NUM_TASKS", "16"), ("SLURM_LOCALID", "1"),
                                                              ("SLURM_STEP_TASKS_PER_NODE", "8(x2)"), ("PMIX_RANK", "5")));
        // A batch script running ./avbert itself (no srun step) is one process, whatever the allocation.
        Assert.False(From(("SLURM_PROCID", "0"), ("SLURM_NTASKS", "16")).IsDistributed);
        Assert.False(From().IsDistributed);
        Assert.False(From(("OMPI_COMM_WORLD_RANK", "0"), ("OMPI_COMM_WORLD_SIZE", "1")).IsDistributed);
    }

    [Fact]
    public void Gradient_buckets_hold_every_gradient_split_by_size_and_give_a_missing_one_back()
    {
        var a = new TorchSharp.Modules.Parameter(randn(10, 10));
        var b = new TorchSharp.Modules.Parameter(randn(30));
        var c = new TorchSharp.Modules.Parameter(randn(5));
        (a * 2).sum().backward();
        (b * 3).sum().backward();
        using var buckets = new GradientBuckets([a, b, c], bucketBytes: 120 * sizeof(float));
        Assert.Equal([100L, 35], buckets.Buckets.Select(t => t.numel()));   // a alone, then b and c together
        buckets.Gather();
        Assert.Equal(2f, buckets.Buckets[0].mean().item<float>());
        Assert.Equal(90f, buckets.Buckets[1].sum().item<float>());
        foreach (var t in buckets.Buckets) t.mul_(0.5);                      // what an all-reduce-mean over a rank holding zeros does
        buckets.Scatter();
        Assert.Equal(1f, a.grad!.mean().item<float>());
        Assert.Equal(1.5f, b.grad!.mean().item<float>());
        Assert.NotNull(c.grad);
        Assert.Equal(0f, c.grad!.abs().sum().item<float>());
    }
}
