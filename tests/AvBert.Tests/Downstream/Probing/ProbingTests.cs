using AvBert.Downstream.Probing;
using static TorchSharp.torch;

namespace AvBert.Tests.Downstream.Probing;

public class ProbingTests
{
    [Fact]
    public void Probe_on_linearly_separable_data_is_near_perfect()
    {
        var gen = new Generator(1);
        // 4 classes, each a Gaussian blob around its own centre in 16-d, with offsets and scales the probe must standardise away.
        var centres = randn([4, 16], generator: gen) * 4;
        var (trainX, trainY) = Blobs(centres, 400, gen);
        var (testX, testY) = Blobs(centres, 200, gen);
        using var probe = LinearProbe.Fit(trainX * 50 + 1000, trainY, 4);
        Assert.True(probe.Accuracy(testX * 50 + 1000, testY) > 0.97);
    }

    [Fact]
    public void Probe_on_random_labels_is_near_chance_on_held_out_data()
    {
        var gen = new Generator(2);
        var trainX = randn([300, 32], generator: gen);
        var trainY = randint(0, 5, [300], generator: gen);
        var testX = randn([2000, 32], generator: gen);
        var testY = randint(0, 5, [2000], generator: gen);
        using var probe = LinearProbe.Fit(trainX, trainY, 5);
        Assert.InRange(probe.Accuracy(testX, testY), 0.13, 0.27);
        Assert.True(probe.Accuracy(trainX, trainY) > 0.3); // it did fit the training noise
    }

    [Fact]
    public void Retrieval_with_identical_embeddings_has_recall_1()
    {
        var x = randn([50, 8], generator: new Generator(3));
        Assert.Equal(1.0, Retrieval.CosineRecallAt1(x, x * 2.5));
    }

    [Fact]
    public void Retrieval_counts_only_queries_whose_own_key_wins()
    {
        // Query 0 → key 0 wins; query 1 → key 0 wins (wrong); query 2 ties between its key and key 0 (wrong).
        var scores = tensor(new float[,] { { 0.9f, 0.1f, 0.2f }, { 0.8f, 0.5f, 0.1f }, { 0.7f, 0.1f, 0.7f } });
        Assert.Equal(1.0 / 3, Retrieval.RecallAt1(scores), 6);
        var random = Retrieval.CosineRecallAt1(randn([400, 16], generator: new Generator(4)), randn([400, 16], generator: new Generator(5)));
        Assert.InRange(random, 0.0, 0.02);
    }

    static (Tensor, Tensor) Blobs(Tensor centres, int n, Generator gen)
    {
        var y = randint(0, centres.shape[0], [n], generator: gen);
        var x = centres.index_select(0, y) + randn([n, centres.shape[1]], generator: gen);
        return (x, y);
    }
}
