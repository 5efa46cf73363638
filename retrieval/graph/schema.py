"""Node types and relations of the information graph, defined once.

The graph (paper 2.1, Fig. 1b) links product images, relative captions, attributes and EI-tree
concepts. Every canonical relation ``(src, rel, dst)`` has a reverse ``(dst, rev_rel, src)`` so
messages flow both ways in the R-GCN. Relations for the interactions of issue 4 ("more metadata",
"I like that", likes / dislikes) are RESERVED: they exist in every graph, possibly with zero
edges, so a trained R-GCN already has weights for them.
"""

from __future__ import annotations

# -- node types ------------------------------------------------------------------------------
IMAGE = "image"
CAPTION = "caption"
ATTRIBUTE = "attribute"
CONCEPT = "concept"
USER = "user"  # reserved for issue 4 (per-user likes / dislikes)
NODE_TYPES: tuple[str, ...] = (IMAGE, CAPTION, ATTRIBUTE, CONCEPT, USER)

# -- relation names ----------------------------------------------------------------------------
MODIFIES = "modifies"  # caption -> the candidate image it modifies
HAS_ATTRIBUTE = "has_attribute"  # image -> attribute
MENTIONS = "mentions"  # caption -> attribute named in its text
IS_A = "is_a"  # attribute -> concept, concept -> parent concept
SAME_PRODUCT = "same_product"  # image -> another photo of the same product (catalog metadata)
HAS_USER_ATTRIBUTE = "has_user_attribute"  # image -> attribute a person stated ("that shirt is linen")
LIKED_WITH = "liked_with"  # image -> image liked together ("I like that")
LIKED_FOR = "liked_for"  # liked image -> the caption it was liked for
LIKED_FROM = "liked_from"  # liked image -> the candidate image of that query
LIKES = "likes"  # user -> image
DISLIKES = "dislikes"  # user -> image
REVERSE_PREFIX = "rev_"

CanonicalEtype = tuple[str, str, str]

# -- canonical relations ``(src, rel, dst)``, named ``SRC_REL`` ------------------------------------
CAPTION_MODIFIES: CanonicalEtype = (CAPTION, MODIFIES, IMAGE)
IMAGE_HAS_ATTRIBUTE: CanonicalEtype = (IMAGE, HAS_ATTRIBUTE, ATTRIBUTE)
CAPTION_MENTIONS: CanonicalEtype = (CAPTION, MENTIONS, ATTRIBUTE)
ATTRIBUTE_IS_A: CanonicalEtype = (ATTRIBUTE, IS_A, CONCEPT)
CONCEPT_IS_A: CanonicalEtype = (CONCEPT, IS_A, CONCEPT)
IMAGE_SAME_PRODUCT: CanonicalEtype = (IMAGE, SAME_PRODUCT, IMAGE)
IMAGE_HAS_USER_ATTRIBUTE: CanonicalEtype = (IMAGE, HAS_USER_ATTRIBUTE, ATTRIBUTE)
IMAGE_LIKED_WITH: CanonicalEtype = (IMAGE, LIKED_WITH, IMAGE)
IMAGE_LIKED_FOR: CanonicalEtype = (IMAGE, LIKED_FOR, CAPTION)
IMAGE_LIKED_FROM: CanonicalEtype = (IMAGE, LIKED_FROM, IMAGE)
USER_LIKES: CanonicalEtype = (USER, LIKES, IMAGE)
USER_DISLIKES: CanonicalEtype = (USER, DISLIKES, IMAGE)

#: The relations built from the catalog (paper 2.1 plus the EI tree).
BASE_RELATIONS: tuple[CanonicalEtype, ...] = (
    CAPTION_MODIFIES,
    IMAGE_HAS_ATTRIBUTE,
    CAPTION_MENTIONS,
    ATTRIBUTE_IS_A,
    CONCEPT_IS_A,
    IMAGE_SAME_PRODUCT,
)

#: Relations reserved for issue 4's interactions (present with zero edges until used).
RESERVED_RELATIONS: tuple[CanonicalEtype, ...] = (
    IMAGE_HAS_USER_ATTRIBUTE,
    IMAGE_LIKED_WITH,
    IMAGE_LIKED_FOR,
    IMAGE_LIKED_FROM,
    USER_LIKES,
    USER_DISLIKES,
)

#: An image's attributes: the catalog's and those people stated.
IMAGE_ATTRIBUTE_RELATIONS: tuple[CanonicalEtype, ...] = (IMAGE_HAS_ATTRIBUTE, IMAGE_HAS_USER_ATTRIBUTE)
#: The edges one "I like that" adds.
LIKE_RELATIONS: tuple[CanonicalEtype, ...] = (IMAGE_LIKED_WITH, IMAGE_LIKED_FOR, IMAGE_LIKED_FROM)


def reverse_name(rel: str) -> str:
    """``has_attribute`` -> ``rev_has_attribute`` (and back)."""
    return rel[len(REVERSE_PREFIX) :] if rel.startswith(REVERSE_PREFIX) else REVERSE_PREFIX + rel


def reverse(etype: CanonicalEtype) -> CanonicalEtype:
    """The reverse canonical relation of ``etype``."""
    src, rel, dst = etype
    return (dst, reverse_name(rel), src)


def with_reverses(etypes: tuple[CanonicalEtype, ...]) -> tuple[CanonicalEtype, ...]:
    """``etypes`` followed by their reverses, in a stable order."""
    return tuple(etypes) + tuple(reverse(e) for e in etypes)


#: A query caption's in-edges at query time (a caption is a sink): its candidate image, its mentions.
IMAGE_REV_MODIFIES: CanonicalEtype = reverse(CAPTION_MODIFIES)
ATTRIBUTE_REV_MENTIONS: CanonicalEtype = reverse(CAPTION_MENTIONS)

#: Every canonical relation of a tailor graph, forward relations first, then their reverses.
ALL_RELATIONS: tuple[CanonicalEtype, ...] = with_reverses(BASE_RELATIONS + RESERVED_RELATIONS)

#: Relations whose messages flow INTO caption nodes: a caption is a sink at query time, embedded
#: from its candidate image and the attributes it mentions (plus liked images, issue 4).
CAPTION_IN_RELATIONS: tuple[CanonicalEtype, ...] = tuple(e for e in ALL_RELATIONS if e[2] == CAPTION)


def etype_key(etype: CanonicalEtype) -> str:
    """A flat string key for a canonical relation (``image:has_attribute:attribute``)."""
    return ":".join(etype)


def parse_etype_key(key: str) -> CanonicalEtype:
    """Inverse of :func:`etype_key`."""
    src, rel, dst = key.split(":")
    return (src, rel, dst)


# -- attribute / concept naming ----------------------------------------------------------------
GROUP_CONCEPT_PREFIX = "group:"  # concept node of an attribute group ("group:color")
CAPTION_FIRST_GROUP = "caption-first"  # A.5: first word of a product caption
CAPTION_REST_GROUP = "caption-rest"  # A.5: the rest of the caption


def group_concept(group: str) -> str:
    """Name of the concept node of an attribute group (``color`` -> ``group:color``)."""
    return GROUP_CONCEPT_PREFIX + group
