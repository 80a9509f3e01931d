"""Training face embedders: triplet loss with online mining, contrastive loss, the siamese head,
cached folder-per-person data with P x K batches, and the trainer behind ``facerec train``.

>>> from facerec.train import TripletLoss, SemiHardMiner
>>> import torch
>>> e = torch.nn.functional.normalize(torch.randn(8, 4), dim=1)
>>> labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
>>> float(TripletLoss(0.2)(e, SemiHardMiner()(e, labels))) >= 0
True
"""

from facerec.train.contrastive_loss import ContrastiveLoss
from facerec.train.data import FaceFolder, load_face_folder, select_people
from facerec.train.miners import BatchAllMiner, BatchHardMiner, SemiHardMiner, get_miner
from facerec.train.sampler import PKSampler
from facerec.train.siamese import SiameseHead, fit_siamese
from facerec.train.trainer import TrainConfig, build_backbone, train
from facerec.train.triplet_loss import TripletLoss

__all__ = [
    "BatchAllMiner", "BatchHardMiner", "ContrastiveLoss", "FaceFolder", "PKSampler", "SemiHardMiner",
    "SiameseHead", "TrainConfig", "TripletLoss", "build_backbone", "fit_siamese", "get_miner",
    "load_face_folder", "select_people", "train",
]
