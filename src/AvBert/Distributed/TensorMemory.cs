using System.Runtime.InteropServices;
using AvBert.Runtime;
using static TorchSharp.torch;

namespace AvBert.Distributed;

/// <summary>
/// What TorchSharp keeps private and the collectives need: a tensor's data address (<c>Tensor.data_ptr()</c>) and
/// setting a parameter's gradient, both read from TorchSharp's own native library (already loaded).
/// </summary>
internal static unsafe class TensorMemory
{
    static readonly delegate* unmanaged<IntPtr, IntPtr> DataPtr;
    static readonly delegate* unmanaged<IntPtr, IntPtr, void> SetGrad;

    static TensorMemory()
    {
        _ = TorchSharp.torch.get_num_threads(); // TorchSharp loads its native library on first use
        var path = NativeLibraryFix.FindTorchSharpNative() ?? NativeLibraryFix.LibraryName;
        var h = NativeLibrary.Load(path);
        DataPtr = (delegate* unmanaged<IntPtr, IntPtr>)NativeLibrary.GetExport(h, "THSTensor_data");
        SetGrad = (delegate* unmanaged<IntPtr, IntPtr, void>)NativeLibrary.GetExport(h, "THSTensor_set_grad");
    }

    /// <summary>The address of the first element (the tensor must be contiguous).</summary>
    public static IntPtr Address(Tensor t)
    {
        if (!t.is_contiguous()) throw new ArgumentException("collectives need contiguous tensors");
        var p = DataPtr(t.Handle);
        GC.KeepAlive(t);
        return p;
    }

    public static void SetGradient(Tensor parameter, Tensor grad)
    {
        SetGrad(parameter.Handle, grad.Handle);
        GC.KeepAlive(parameter);
        GC.KeepAlive(grad);
    }
}
