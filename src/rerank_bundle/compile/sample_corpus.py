"""A small built-in corpus of real-looking search topics: calibration and fidelity data.

Each topic has two queries and three documents that answer them (best first). Documents
of the other topics serve as clear negatives. Written for this project; kept short so
that a fidelity check on a large model at first start stays affordable.
"""
from __future__ import annotations

# (queries, documents) per topic; documents[0] answers the queries best.
TOPICS: tuple[tuple[tuple[str, str], tuple[str, str, str]], ...] = (
    (
        ("what is deep learning", "how do neural networks learn from data"),
        (
            "Deep learning is a branch of machine learning that trains neural networks with many layers. Each layer "
            "learns features from the output of the one before it, so the network builds up from edges and shapes to "
            "whole objects without hand-written rules.",
            "Neural networks are trained with backpropagation: the error on a batch of examples is pushed back "
            "through the layers and every weight is nudged by gradient descent to make the error smaller next time.",
            "Machine learning covers methods such as decision trees, support vector machines and linear regression "
            "that fit a model to examples instead of following explicit instructions.",
        ),
    ),
    (
        ("capital of france", "which city is the seat of the french government"),
        (
            "Paris is the capital and largest city of France. The President works from the Elysee Palace and "
            "Parliament meets in the Palais Bourbon and the Luxembourg Palace.",
            "France is a country in Western Europe with a population of about 68 million people; its regions range "
            "from the beaches of Normandy to the Alps and the Mediterranean coast.",
            "Lyon, on the Rhone and the Saone, is the third largest city in France and is known for its food and "
            "its old silk trade.",
        ),
    ),
    (
        ("how to bake sourdough bread at home", "sourdough starter feeding schedule"),
        (
            "To bake sourdough at home, mix flour, water, salt and an active starter, let the dough rise slowly for "
            "several hours with a few folds, shape it, proof it overnight in the fridge and bake it in a hot "
            "covered pot.",
            "A sourdough starter is a culture of wild yeast and bacteria. Feed it equal weights of flour and water "
            "once or twice a day and keep it where it is warm so it doubles within a few hours.",
            "Bread flour has more protein than cake flour, which helps gluten form and gives the loaf a chewy crumb.",
        ),
    ),
    (
        ("symptoms of vitamin d deficiency", "why do people lack vitamin d in winter"),
        (
            "Low vitamin D can cause tiredness, aching bones, muscle weakness and low mood; in children a severe "
            "lack leads to rickets, and in adults to soft bones.",
            "The skin makes vitamin D from sunlight. In winter at high latitudes the sun is too low for that, so many "
            "people run short unless they take supplements or eat oily fish and eggs.",
            "Calcium and vitamin D work together: the vitamin helps the gut absorb the calcium that keeps bones "
            "strong.",
        ),
    ),
    (
        ("python list comprehension example", "how to filter a list in python"),
        (
            "A list comprehension builds a list in one expression: squares = [x * x for x in range(10) if x % 2 == 0] "
            "keeps the even numbers and squares them.",
            "To filter a list in Python use a comprehension with a condition, or the built-in filter function with a "
            "predicate; both return only the items for which the test is true.",
            "Python dictionaries map keys to values and keep insertion order since version 3.7.",
        ),
    ),
    (
        ("best time to visit japan for cherry blossoms", "when do cherry trees bloom in tokyo"),
        (
            "Cherry blossoms in Japan usually open from late March to early April in Tokyo and Kyoto, later in the "
            "north; the best viewing lasts about a week after full bloom.",
            "The Japan Meteorological Agency publishes a sakura forecast each spring so that travellers can plan "
            "their trips around the expected bloom dates.",
            "Autumn in Japan brings red maple leaves to temples and mountain valleys, another popular season for "
            "visitors.",
        ),
    ),
    (
        ("how does a heat pump work", "are heat pumps efficient in cold climates"),
        (
            "A heat pump moves heat instead of burning fuel: a refrigerant absorbs heat from outside air or the "
            "ground, a compressor raises its temperature, and the heat is released indoors.",
            "Modern cold-climate heat pumps keep working well below freezing, delivering two to three units of heat "
            "for each unit of electricity, though efficiency drops as the outdoor air gets colder.",
            "Gas boilers heat water by burning natural gas and send it through radiators around the house.",
        ),
    ),
    (
        ("causes of the first world war", "what started world war one"),
        (
            "The First World War began in 1914 after the assassination of Archduke Franz Ferdinand in Sarajevo, "
            "which set off a chain of alliances, mobilisations and declarations of war across Europe.",
            "Historians point to militarism, alliances, imperial rivalry and nationalism as the long-term causes "
            "that made a local crisis turn into a general European war.",
            "The Treaty of Versailles, signed in 1919, ended the war between Germany and the Allied Powers.",
        ),
    ),
    (
        ("how to reset a forgotten router password", "default admin login for home wifi router"),
        (
            "If you forgot the router password, hold the reset button on the back for about ten seconds; the router "
            "restarts with factory settings and the default login printed on its label.",
            "Most home routers use a default admin page at 192.168.0.1 or 192.168.1.1 with a username and password "
            "printed on a sticker under the device.",
            "A mesh network uses several access points to cover a large home with one Wi-Fi name.",
        ),
    ),
    (
        ("marathon training plan for beginners", "how many kilometres a week to train for a marathon"),
        (
            "A beginner marathon plan lasts about sixteen to twenty weeks, with three to five runs a week, one long "
            "run that grows slowly to about 32 kilometres, and an easy taper in the last three weeks.",
            "Most first-time marathoners peak at 50 to 65 kilometres a week; raising weekly distance by no more than "
            "ten percent helps avoid injuries.",
            "Running shoes should be replaced every 500 to 800 kilometres as the cushioning wears out.",
        ),
    ),
    (
        ("what causes inflation", "why do prices rise over time"),
        (
            "Inflation happens when demand grows faster than the economy can supply goods, when costs such as energy "
            "or wages rise, or when too much money chases too few goods.",
            "Central banks raise interest rates to slow borrowing and spending, which cools demand and brings "
            "inflation back toward their target of about two percent.",
            "A stock market index such as the S&P 500 tracks the share prices of large listed companies.",
        ),
    ),
    (
        ("how do vaccines train the immune system", "what is in an mrna vaccine"),
        (
            "Vaccines show the immune system a harmless piece or copy of a germ, so it makes antibodies and memory "
            "cells and can respond quickly if the real infection comes later.",
            "An mRNA vaccine carries instructions for a viral protein wrapped in a fat particle; cells read the "
            "message, make the protein, and the immune system learns to recognise it.",
            "Antibiotics kill bacteria or stop them from growing but have no effect on viruses.",
        ),
    ),
    (
        ("photosynthesis explained simply", "how do plants make their food"),
        (
            "In photosynthesis plants use the energy of sunlight to turn carbon dioxide and water into sugar, "
            "releasing oxygen; it happens in the chloroplasts of leaf cells.",
            "Plants make food in their leaves, where chlorophyll captures light and the plant builds glucose that it "
            "uses for energy and growth.",
            "Roots take up water and minerals from the soil and anchor the plant in the ground.",
        ),
    ),
    (
        ("difference between a virus and bacteria", "are bacteria living cells"),
        (
            "Bacteria are single living cells that can reproduce on their own, while viruses are much smaller and "
            "can only multiply inside the cells of a host.",
            "Bacteria are living single-celled organisms with their own metabolism; many are harmless and some help "
            "digestion.",
            "Fungi such as yeasts and moulds are neither plants nor animals and feed by absorbing nutrients.",
        ),
    ),
    (
        ("how to lower cholesterol naturally", "foods that reduce ldl cholesterol"),
        (
            "Eating more fibre from oats, beans and vegetables, replacing saturated fat with olive oil and nuts, "
            "exercising regularly and not smoking all help lower LDL cholesterol.",
            "Oats, barley, beans, lentils, nuts and fatty fish are among the foods shown to reduce LDL cholesterol "
            "when they replace red meat and butter.",
            "Blood pressure is measured in millimetres of mercury as two numbers, systolic over diastolic.",
        ),
    ),
    (
        ("rules of chess castling", "can you castle out of check"),
        (
            "Castling moves the king two squares toward a rook and puts that rook on the square the king crossed; "
            "neither piece may have moved before and the squares between them must be empty.",
            "You may not castle while in check, through a square attacked by an enemy piece, or into check; after "
            "the threat is gone castling is allowed again if neither piece has moved.",
            "A pawn that reaches the last rank is promoted, usually to a queen.",
        ),
    ),
)
