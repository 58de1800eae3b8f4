import Needletail
print(MemoryLayout<ByteString>.size, MemoryLayout<ByteString>.stride)
