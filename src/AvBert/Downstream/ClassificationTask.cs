using AvBert.Config;
using AvBert.Data;
using AvBert.Training;
using static TorchSharp.torch;

namespace AvBert.Downstream;

/// <summary>
/// What <see cref="ClassificationTask.Forward(VideoBatch)"/> returns for one labelled batch: the loss to back-propagate, the
/// values to log ("loss"; with two heads also "loss_clip" and "loss_sequence"; "train_top1"), every head's logits
/// [rows, C] and how many rows (clips or audio windows) they have.
/// </summary>
public sealed record ClassificationOutput(Tensor Loss, IReadOnlyDictionary<string, Tensor> Parts, IReadOnlyList<Tensor> Logits, long Rows);

/// <summary>
/// A downstream classification task as one unit (SPEC §8), as <c>AvBertPretrainer</c> is for pretraining: the
/// <see cref="TransferModel"/> (backbone and heads) with the task's <see cref="ClassificationObjective"/>. Its
/// <see cref="Forward(VideoBatch)"/> gives the training loss and the per-batch metrics; <see cref="Probabilities"/> gives the
/// test-time class probabilities of every view, from the same logits. Not a module of its own: the checkpoints hold the
/// <see cref="Model"/>, named as they always were.
/// </summary>
public sealed class ClassificationTask(TransferModel model, ClassificationObjective objective, Device device)
{
    public TransferModel Model { get; } = model;
    public ClassificationObjective Objective { get; } = objective;
    /// <summary>Where batches go before the forward pass.</summary>
    public Device Device { get; } = device;

    /// <summary>The task of <paramref name="model"/> as <paramref name="downstream"/> describes it (its loss, margin and class names).</summary>
    public static ClassificationTask For(TransferModel model, DownstreamConfig downstream, Device device)
    {
        var t = downstream.Current;
        return new ClassificationTask(model, new ClassificationObjective(t.Loss, t.Margin, downstream.ClassNames.Length), device);
    }

    /// <summary>
    /// The reference's downstream optimiser for this task: Adam with one parameter group for the new head(s) and, unless
    /// the backbone is frozen (linear protocol), one for the backbone, each split into decayed weights and undecayed
    /// biases and norms.
    /// </summary>
    public TrainingOptimizer CreateOptimizer(DownstreamConfig d)
    {
        var t = d.Current;
        var groups = new List<ParamGroupSpec>(TrainingOptimizer.DecayGroups(Model.HeadParameters(), t.HeadLr, d.WeightDecay, "head_"));
        if (!Model.Frozen) groups.AddRange(TrainingOptimizer.DecayGroups(Model.BackboneParameters(), t.BackboneLr, d.WeightDecay, "backbone_"));
        return TrainingOptimizer.Create(groups,
            new AdamOptions { Kind = OptimizerKind.Adam, Beta1 = d.AdamBetas[0], Beta2 = d.AdamBetas[1], Eps = d.AdamEps, AmsGrad = false });
    }

    /// <summary>Loss and metrics of a training batch (the caller sets train mode and the arithmetic region).</summary>
    public ClassificationOutput Forward(VideoBatch batch)
    {
        var (visual, audio) = batch.ToDevice(Device);
        return Forward(visual, audio, batch.Labels);
    }

    /// <summary>
    /// Loss and metrics of model inputs <paramref name="visual"/> [B, T, 3, F, H, W] and <paramref name="audio"/>
    /// [B, T, 1, FREQ, TIME] (as the task needs them) with one label set per video: every clip of a video carries its
    /// labels. With two heads (clip and sequence) the loss is the sum of their losses, as the reference adds them.
    /// </summary>
    public ClassificationOutput Forward(Tensor? visual, Tensor? audio, IReadOnlyList<int[]> labels)
    {
        var logits = Model.Forward(visual, audio);
        long rows = logits[0].shape[0];
        var targets = Objective.Targets(labels, (int)(rows / labels.Count), Device);
        var parts = new Dictionary<string, Tensor>();
        Tensor loss;
        if (logits.Count == 1) loss = Objective.Compute(logits[0], targets);
        else
        {
            var clip = Objective.Compute(logits[0], targets);
            var sequence = Objective.Compute(logits[1], targets);
            parts["loss_clip"] = clip;
            parts["loss_sequence"] = sequence;
            loss = clip + sequence;
        }
        parts["loss"] = loss;
        parts["train_top1"] = Top1(logits, targets);
        return new ClassificationOutput(loss, parts, logits, rows);
    }

    /// <summary>
    /// Class probabilities [rows, C] of a test batch (every row a view), averaged over the heads; the forward pass runs in
    /// <paramref name="precision"/>'s region (null: fp32). The caller sets eval mode and no_grad.
    /// </summary>
    /// <param name="forward">Computes the logits instead of the model when given (the ONNX Runtime path of
    /// `predict --runtime onnx`, docs/export.md).</param>
    public Tensor Probabilities(VideoBatch batch, MixedPrecision? precision = null, Func<Tensor?, Tensor?, IReadOnlyList<Tensor>>? forward = null)
    {
        var (visual, audio) = batch.ToDevice(Device);
        IReadOnlyList<Tensor> logits;
        using (precision?.Region()) logits = forward is null ? Model.Forward(visual, audio) : forward(visual, audio);
        return Objective.Probabilities(logits);
    }

    /// <summary>Top-1 accuracy of the summed head probabilities (multi-label: the top class is one of the labels), no gradient.</summary>
    Tensor Top1(IReadOnlyList<Tensor> logits, Tensor targets)
    {
        using var _ = no_grad();
        using var probs = Objective.Probabilities(logits.Select(l => l.detach()).ToList());
        using var top = probs.argmax(-1);
        if (!Objective.MultiLabel) return top.eq(targets).to(ScalarType.Float32).mean();
        using var hit = targets.gather(1, top.unsqueeze(1));
        return hit.mean();
    }
}
