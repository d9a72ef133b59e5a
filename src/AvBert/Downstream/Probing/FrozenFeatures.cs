using AvBert.Model;
using static TorchSharp.torch;

namespace AvBert.Downstream.Probing;

/// <summary>
/// Per-video features of a frozen model, [N,·] on the CPU: what the linear probes read.
/// <list type="bullet">
/// <item>Visual [N,D]: the visual Transformer's outputs at the clip positions 1..T, averaged (the projected CNN embeddings
/// x^v when the fusion mode has no visual Transformer).</item>
/// <item>Audio [N,D]: the same for audio.</item>
/// <item>AudioVisual [N,2D]: the multimodal Transformer's outputs averaged over the visual clip positions, concatenated with
/// the average over the audio clip positions (late fusion: Visual ⊕ Audio).</item>
/// <item>VisualCnn [N,Cv], AudioCnn [N,Ca]: the CNNs' pooled features (before the projection), averaged over the clips —
/// the features of the paper's frozen-CNN protocol (ESC-50: linear on the frozen audio CNN).</item>
/// </list>
/// Labels [N] int64 (the first label of each video). With <see cref="FrozenFeatures.Extract"/>'s keepEmbeddings, also the
/// projected embeddings x^v, x^a [N,T,D] (what the correct-pair head's retrieval re-contextualises).
/// </summary>
public sealed record FeatureSet(Tensor Visual, Tensor Audio, Tensor AudioVisual, Tensor VisualCnn, Tensor AudioCnn, Tensor Labels) : IDisposable
{
    public long Count => Labels.shape[0];
    /// <summary>x^v [N,T,D], when kept.</summary>
    public Tensor? VisualEmbeddings { get; init; }
    /// <summary>x^a [N,T,D], when kept.</summary>
    public Tensor? AudioEmbeddings { get; init; }

    public void Dispose()
    {
        Visual.Dispose();
        Audio.Dispose();
        AudioVisual.Dispose();
        VisualCnn.Dispose();
        AudioCnn.Dispose();
        Labels.Dispose();
        VisualEmbeddings?.Dispose();
        AudioEmbeddings?.Dispose();
    }
}

public static class FrozenFeatures
{
    /// <summary>
    /// Runs the model in eval mode without gradients over <paramref name="batches"/> (visual [B,T,3,F,H,W], audio
    /// [B,T,1,FREQ,TIME], labels [B] — or any per-video integer to carry along) and pools each video's outputs (see
    /// <see cref="FeatureSet"/>). The model is left in eval mode. Batches are disposed by the caller.
    /// </summary>
    public static FeatureSet Extract(AvBertModel model, IEnumerable<(Tensor Visual, Tensor Audio, Tensor Labels)> batches, Device device,
                                     bool keepEmbeddings = false)
    {
        model.eval();
        var v = new List<Tensor>();
        var a = new List<Tensor>();
        var av = new List<Tensor>();
        var vc = new List<Tensor>();
        var ac = new List<Tensor>();
        var y = new List<Tensor>();
        var xv = new List<Tensor>();
        var xa = new List<Tensor>();
        using (no_grad())
        {
            foreach (var (visual, audio, labels) in batches)
            {
                using var scope = NewDisposeScope();
                var outputs = model.forward(visual.to(device), audio.to(device));
                var (pv, pa, pav) = Pool(outputs);
                v.Add(pv.cpu().MoveToOuterDisposeScope());
                a.Add(pa.cpu().MoveToOuterDisposeScope());
                av.Add(pav.cpu().MoveToOuterDisposeScope());
                vc.Add(outputs.VisualPooled.mean([1]).cpu().MoveToOuterDisposeScope());
                ac.Add(outputs.AudioPooled.mean([1]).cpu().MoveToOuterDisposeScope());
                y.Add((labels.dim() == 2 ? labels[.., 0] : labels).to(ScalarType.Int64).cpu().MoveToOuterDisposeScope());
                if (keepEmbeddings)
                {
                    xv.Add(outputs.Xv.cpu().MoveToOuterDisposeScope());
                    xa.Add(outputs.Xa.cpu().MoveToOuterDisposeScope());
                }
            }
        }
        if (y.Count == 0) throw new ArgumentException("no batches to extract features from", nameof(batches));
        var set = new FeatureSet(cat(v, 0), cat(a, 0), cat(av, 0), cat(vc, 0), cat(ac, 0), cat(y, 0))
        {
            VisualEmbeddings = keepEmbeddings ? cat(xv, 0) : null,
            AudioEmbeddings = keepEmbeddings ? cat(xa, 0) : null,
        };
        foreach (var t in v.Concat(a).Concat(av).Concat(vc).Concat(ac).Concat(y).Concat(xv).Concat(xa)) t.Dispose();
        return set;
    }

    /// <summary>
    /// The demo's no-learning control: runs <paramref name="batches"/> (visual, audio, as <see cref="Extract"/> takes them)
    /// through the model in training mode without gradients, so that every BatchNorm's running mean and variance describe
    /// those videos; nothing else changes (dropout only affects the outputs, which are dropped). The model is left in eval mode.
    /// </summary>
    public static void RecalibrateBatchNorm(AvBertModel model, IEnumerable<(Tensor Visual, Tensor Audio)> batches, Device device, CancellationToken ct)
    {
        model.train();
        using (no_grad())
            foreach (var (visual, audio) in batches)
            {
                ct.ThrowIfCancellationRequested();
                using var scope = NewDisposeScope();
                model.forward(visual.to(device), audio.to(device));
            }
        model.eval();
    }

    /// <summary>The three pooled features of one batch of model outputs: visual [B,D], audio [B,D], audio-visual [B,2D].</summary>
    public static (Tensor Visual, Tensor Audio, Tensor AudioVisual) Pool(AvBertOutputs o)
    {
        var (visual, audio, audioVisual) = Pool(o.Xv, o.Xa, o.Context);
        return (visual!, audio!, audioVisual!);
    }

    /// <summary>
    /// The pooling of <see cref="FeatureSet"/> on whatever a model (or an `extract` file) has: visual = the visual
    /// Transformer's clip outputs averaged, else x^v averaged; audio the same; audio-visual = the multimodal Transformer's
    /// visual-clip mean ⊕ audio-clip mean, else visual ⊕ audio. A part whose inputs are missing is null.
    /// </summary>
    public static (Tensor? Visual, Tensor? Audio, Tensor? AudioVisual) Pool(Tensor? xv, Tensor? xa, ContextOutputs context)
    {
        var visual = context.Visual is { } zv ? zv[.., 1..].mean([1]) : xv?.mean([1]);
        var audio = context.Audio is { } za ? za[.., 1..].mean([1]) : xa?.mean([1]);
        Tensor? audioVisual = context.Multimodal is not null
            ? cat([context.MultimodalVisualClips().mean([1]), context.MultimodalAudioClips().mean([1])], 1)
            : visual is not null && audio is not null ? cat([visual, audio], 1) : null;
        return (visual, audio, audioVisual);
    }
}
