// What `import Scalpel` brings besides the runtime, the trainer and the clinical layer: the
// backends and their protocol (ScalpelCore, ScalpelCPU, ScalpelOpenCL), tensors and autograd
// (ScalpelTensor), and modules, layers, losses and optimizers (ScalpelNN) — everything a
// program that defines and trains its own model needs, in one import.
@_exported import ScalpelCore
@_exported import ScalpelCPU
@_exported import ScalpelNN
@_exported import ScalpelOpenCL
@_exported import ScalpelTensor
