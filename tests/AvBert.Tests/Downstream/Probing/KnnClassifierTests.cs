using AvBert.Downstream.Probing;
using static TorchSharp.torch;

namespace AvBert.Tests.Downstream.Probing;

public class KnnClassifierTests
{
    [Fact]
    public void Two_well_separated_clusters_are_classified_perfectly_for_every_k()
    {
        var gen = new Generator(7);
        // Class 0 around (1,…,1), class 1 around −(1,…,1): every dimension carries the class (the features are
        // standardised per dimension first), small noise.
        var centre = ones(8);
        Tensor Cluster(int n, float sign) => sign * centre.unsqueeze(0) + 0.1f * randn([n, 8], generator: gen);
        var trainX = cat([Cluster(20, 1), Cluster(20, -1)], 0);
        var trainY = cat([zeros(20, dtype: int64), ones(20, dtype: int64)]);
        var testX = cat([Cluster(10, 1), Cluster(10, -1)], 0);
        var testY = cat([zeros(10, dtype: int64), ones(10, dtype: int64)]);
        Assert.Equal([1.0, 1.0, 1.0], KnnClassifier.Accuracies(trainX, trainY, testX, testY, 2, [1, 10, 20]));
        // Swapping the test labels makes every prediction wrong: the accuracy really depends on the neighbours.
        Assert.Equal([0.0, 0.0, 0.0], KnnClassifier.Accuracies(trainX, trainY, testX, 1 - testY, 2, [1, 10, 20]));
    }

    [Fact]
    public void A_tied_vote_goes_to_the_class_with_the_larger_summed_similarity_and_a_majority_beats_similarity()
    {
        // Unit vectors in 2-d at angles (degrees) from the query at 0°: cosine = cos(angle), no standardisation.
        static Tensor At(params double[] degrees) =>
            tensor(degrees.SelectMany(d => new[] { (float)Math.Cos(d * Math.PI / 180), (float)Math.Sin(d * Math.PI / 180) }).ToArray()).view(-1, 2);
        // Neighbours by similarity: class 1 at 10° (0.985), class 0 at 20° (0.940), class 0 at 30° (0.866), class 1 at 35° (0.819).
        var trainX = At(10, 20, 30, 35);
        var trainY = tensor(new long[] { 1, 0, 0, 1 });
        var query = At(0);
        var predicted = KnnClassifier.Predict(trainX, trainY, query, 2, [1, 2, 3, 4], standardise: false).data<long>().ToArray();
        // k=1: class 1 (nearest). k=2: one vote each, summed similarity 0.985 (class 1) > 0.940 (class 0) → class 1.
        // k=3: class 0 has two votes against one → class 0, although class 1 holds the nearest neighbour.
        // k=4: two votes each; class 0 sums 0.940+0.866 = 1.806, class 1 0.985+0.819 = 1.804 → class 0.
        Assert.Equal(new long[] { 1, 1, 0, 0 }, predicted);
    }

    [Fact]
    public void Standardised_predictions_ignore_a_shift_and_rescale_of_each_dimension_raw_ones_do_not()
    {
        var gen = new Generator(3);
        var x = randn([60, 4], generator: gen);
        var y = (x[.., 0] > 0).to(int64);
        var scale = tensor(new float[] { 3, 0.5f, 10, 1 });
        var shift = tensor(new float[] { 50, -20, 7, 100 });
        var moved = x * scale + shift;
        long[] Predict(Tensor f, bool standardise) =>
            KnnClassifier.Predict(f[..40], y[..40], f[40..], 2, [1, 5], standardise).data<long>().ToArray();
        Assert.Equal(Predict(x, true), Predict(moved, true));
        Assert.NotEqual(Predict(x, false), Predict(moved, false));
    }

    [Fact]
    public void K_larger_than_the_training_set_is_refused()
    {
        var x = randn([3, 4], generator: new Generator(1));
        Assert.Throws<ArgumentException>(() => KnnClassifier.Predict(x, tensor(new long[] { 0, 1, 0 }), x, 2, [4]));
    }
}
